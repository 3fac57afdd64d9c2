import { InvalidExportError, OssError, SourceError, SourceErrorReason } from './errors';
import type { ProjectExportJob } from './ims-schema';
import type { WrittenObject } from './oss';
import { copyWithinOss, locateSameRegionObject } from './server-copy';
import { checkSourceUrl, describeUrl, openSource, type OpenedSource, type SourceLocation } from './source';
import type { SyncDependencies } from './sync';
import { CRC64_MISMATCH, DEFAULT_PART_SIZE, DEFAULT_QUEUE_SIZE, DeadlineError, uploadStream } from './upload';

/** Times a download is started again: after an expired URL (with a fresh one from IMS) or a broken transfer. */
const DOWNLOAD_ATTEMPTS = 3;
/**
 * Slowest download rate assumed when deciding whether a copy can finish before the deadline, in bytes per
 * second. NOTE: an estimate for a function in the bucket's region. A slower source makes a started copy
 * run into the deadline, where it is aborted cleanly and the job stays due.
 */
const ASSUMED_MIN_RATE_BYTES_PER_SECOND = 8 * 1024 * 1024;

/**
 * Copies the zip behind ProjectUrl to `<OUTPUT_PREFIX><JobId>/<zip name>`: inside OSS when the URL names an
 * object in the destination's region that the function's credentials can read, else by streaming the
 * download. An expired URL is replaced by asking IMS for the job again; a broken or corrupted transfer is
 * started again from the beginning.
 */
export async function copyProjectZip(
  job: ProjectExportJob,
  deps: SyncDependencies,
  refreshJob: () => Promise<ProjectExportJob>,
): Promise<{ written: WrittenObject; source: ZipSource }> {
  const projectUrl = requireProjectUrl(job);
  // The API reference's sample ProjectUrl is plain http. A server-side copy never connects to the URL, so it
  // is tried for such a URL too; a download requires https.
  const url = checkSourceUrl(projectUrl, deps.config.sourceHosts, { forDownload: false });
  const key = `${deps.config.outputPrefix}${job.jobId}/${zipFileName(projectUrl)}`;

  const copied = await tryServerSideCopy(url, key, job, deps);
  if (copied !== undefined) return { written: copied, source: { ...describeUrl(url), copy: 'server-side' } };

  // openSource checks the URL again with the download's rules (https only) before it connects.
  const { written, location } = await downloadProjectZip(job, key, deps, refreshJob);
  return { written, source: { ...location, copy: 'download' } };
}

export type ZipSource = SourceLocation & { copy: 'server-side' | 'download' };

async function tryServerSideCopy(url: URL, key: string, job: ProjectExportJob, deps: SyncDependencies): Promise<WrittenObject | undefined> {
  if (deps.serverSideCopy === false || deps.config.ossRegion === undefined) return undefined;
  const location = locateSameRegionObject(url, { ossRegion: deps.config.ossRegion, ossEndpoint: deps.config.ossEndpoint });
  if (location === undefined) return undefined;

  try {
    const written = await copyWithinOss(deps.bucket, location, key, {
      contentType: 'application/zip',
      meta: { 'ims-job-id': job.jobId },
      logger: deps.logger,
    });
    deps.logger.info('Project zip copied inside OSS', { key, size: written.size, crc64: written.crc64, source_bucket: location.bucket });
    return written;
  } catch (error) {
    // The download path needs nothing but the signed URL, so any failure here (most often AccessDenied
    // because the export bucket is not readable by the function's role) falls back to it.
    deps.logger.warn('Server-side copy failed; downloading the ProjectUrl instead', { key, source_bucket: location.bucket, error });
    return undefined;
  }
}

async function downloadProjectZip(
  job: ProjectExportJob,
  key: string,
  deps: SyncDependencies,
  refreshJob: () => Promise<ProjectExportJob>,
): Promise<{ written: WrittenObject; location: SourceLocation }> {
  let current = job;
  for (let attempt = 1; ; attempt += 1) {
    let source: OpenedSource | undefined;
    try {
      source = await openSource(requireProjectUrl(current), { allowedHosts: deps.config.sourceHosts });
      checkVerifiable(key, source, deps.logger);
      checkTimeLeft(key, source.size, deps.deadlineMs);
      deps.logger.info('Download started', { key, source_host: source.location.host, source_path: source.location.path, bytes_total: source.size });
      const written = await uploadStream(deps.bucket, key, source.body, {
        contentType: 'application/zip',
        meta: { 'ims-job-id': job.jobId },
        partSize: deps.upload?.partSize ?? DEFAULT_PART_SIZE,
        queueSize: deps.upload?.queueSize ?? DEFAULT_QUEUE_SIZE,
        expectedSize: source.size,
        expectedCrc64: source.crc64,
        onProgress: progressReporter(deps, key, source.size),
        logger: deps.logger,
        ...(deps.deadlineMs === undefined ? {} : { deadlineMs: deps.deadlineMs }),
      });
      deps.logger.info('Project zip written', { key, size: written.size, crc64: written.crc64 });
      return { written, location: source.location };
    } catch (error) {
      source?.body.destroy();
      if (!isRepeatableCopyFailure(error) || attempt >= DOWNLOAD_ATTEMPTS) throw error;

      deps.logger.warn('Copy failed, starting again', { attempt, error });
      if (error instanceof SourceError && error.reason === SourceErrorReason.Expired) current = await refreshJob();
    }
  }
}

/** True for failures that a fresh download may not repeat: broken transfers, corrupted bytes, expired URLs. */
function isRepeatableCopyFailure(error: unknown): boolean {
  if (error instanceof SourceError) return error.retryable;
  return error instanceof OssError && error.code === CRC64_MISMATCH;
}

/**
 * Rejects an HTML page where a zip was expected (a login or error page served with status 200). A source
 * that announces neither its size nor its CRC-64 is copied with a warning. Chunked transfer encoding still
 * marks where a complete body ends, but the bytes cannot be checked against the source.
 */
function checkVerifiable(key: string, source: OpenedSource, logger: SyncDependencies['logger']): void {
  if (/^text\/html\b/i.test(source.contentType ?? '')) {
    throw new SourceError(`Source for "${key}" sent an HTML page (${source.contentType}) where a zip was expected`, SourceErrorReason.IntegrityMismatch);
  }
  if (source.size === undefined && source.crc64 === undefined) {
    logger.warn('Source sent neither Content-Length nor x-oss-hash-crc64ecma; its bytes cannot be checked', { key });
  }
}

/** Throws a `DeadlineError` when a download of `size` bytes cannot finish before the deadline at the assumed rate. */
function checkTimeLeft(key: string, size: number | undefined, deadlineMs: number | undefined): void {
  if (deadlineMs === undefined || size === undefined) return;
  const neededMs = (size / ASSUMED_MIN_RATE_BYTES_PER_SECOND) * 1000;
  const leftMs = deadlineMs - Date.now();
  if (neededMs > leftMs) {
    throw new DeadlineError(`Copy of "${key}" (${size} bytes) was not started: it needs about ${Math.ceil(neededMs / 1000)} s and ${Math.max(0, Math.floor(leftMs / 1000))} s are left`);
  }
}

function requireProjectUrl(job: ProjectExportJob): string {
  if (job.projectUrl === undefined) {
    throw new InvalidExportError(`Job ${job.jobId} succeeded but ExportResult.ProjectUrl is empty`, 'MissingProjectUrl');
  }
  return job.projectUrl;
}

const SAFE_FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._()-]{0,199}$/;
const RESERVED_FILE_NAMES = new Set(['manifest.json', 'timeline.json']);

/** Name of the zip's object: the last segment of the ProjectUrl path when it is a plain file name. */
export function zipFileName(projectUrl: string): string {
  const lastSegment = new URL(projectUrl).pathname.split('/').pop() ?? '';
  const name = decodePathSegment(lastSegment);
  return SAFE_FILE_NAME.test(name) && !RESERVED_FILE_NAMES.has(name.toLowerCase()) ? name : 'project.zip';
}

function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return '';
  }
}

function progressReporter(deps: SyncDependencies, key: string, total: number | undefined): (bytesRead: number) => void {
  const intervalMs = deps.progressIntervalMs ?? 5_000;
  const startedAt = Date.now();
  let lastLogAt = startedAt;

  return (bytesRead) => {
    deps.onProgress?.(bytesRead, total);
    const now = Date.now();
    if (now - lastLogAt < intervalMs) return;
    lastLogAt = now;
    const seconds = (now - startedAt) / 1000;
    deps.logger.info('Copy progress', {
      key,
      bytes_done: bytesRead,
      bytes_total: total,
      rate_mib_s: Number((bytesRead / 1024 / 1024 / seconds).toFixed(1)),
    });
  };
}
