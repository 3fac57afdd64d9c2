import type { Config } from './config';
import { InvalidExportError, OssError, SourceError, SourceErrorReason, SyncError, messageOf } from './errors';
import { ExportJobStatus, ExportType, type ProjectExportJob } from './ims-schema';
import { checkJobId } from './job-id';
import { JobLease } from './lease';
import type { Logger } from './log';
import { ManifestResult, buildManifest, manifestKey, readManifest, writeManifest, type Manifest } from './manifest';
import type { OssBucket, WrittenObject } from './oss';
import { copyWithinOss, locateSameRegionObject } from './server-copy';
import { checkSourceUrl, describeUrl, openSource, type OpenedSource, type SourceLocation } from './source';
import { abortStaleUploads, CRC64_MISMATCH, DeadlineError, uploadStream } from './upload';

/** The IMS calls `syncExportJob` makes. */
export interface ExportJobReader {
  getProjectExportJob(jobId: string): Promise<ProjectExportJob>;
}

export interface SyncDependencies {
  /** With `statePrefix` and `jobLeaseSeconds`, a job is copied under a lease so that concurrent runs copy it once. */
  config: Pick<Config, 'outputPrefix' | 'sourceHosts'> & Partial<Pick<Config, 'ossRegion' | 'ossEndpoint' | 'statePrefix' | 'jobLeaseSeconds'>>;
  ims: ExportJobReader;
  bucket: OssBucket;
  logger: Logger;
  /** Part size and parts in flight of the zip upload. */
  upload?: { partSize?: number; queueSize?: number };
  /** How often a copy in progress logs its progress, in milliseconds. */
  progressIntervalMs?: number;
  /** Called as a download progresses, for the command line's progress bar. */
  onProgress?: (bytesDone: number, bytesTotal: number | undefined) => void;
  /** Epoch milliseconds by which the sync must end; a copy that cannot finish by then is not started. */
  deadlineMs?: number;
  /** Copies a ProjectUrl object that lives in the destination's region inside OSS. Default true. */
  serverSideCopy?: boolean;
}

export type SyncOutcome =
  | { outcome: 'copied'; jobId: string; exportType: string; objects: WrittenObject[]; manifestKey: string }
  | { outcome: 'already-synced'; jobId: string; result: string; manifestKey: string }
  | { outcome: 'pending'; jobId: string; status: string }
  /** Another run holds the job's lease and is copying it now. */
  | { outcome: 'in-progress'; jobId: string }
  | { outcome: 'failed'; jobId: string; code: string | undefined; message: string | undefined; manifestKey: string }
  | { outcome: 'error'; jobId: string; reason: string; message: string; retryable: boolean; manifestKey?: string };

/** Times a download is started again: after an expired URL (with a fresh one from IMS) or a broken transfer. */
const DOWNLOAD_ATTEMPTS = 3;
const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
const DEFAULT_QUEUE_SIZE = 4;
/**
 * Slowest download rate assumed when deciding whether a copy can finish before the deadline, in bytes per
 * second. NOTE: an estimate for a function in the bucket's region; a slower source makes a started copy
 * run into the deadline, where it is aborted cleanly and the job stays due.
 */
const ASSUMED_MIN_RATE_BYTES_PER_SECOND = 8 * 1024 * 1024;

/**
 * Syncs one project export job into the destination bucket.
 *
 * Confirms the job's state with GetProjectExportJob, then: Init or Processing → `pending` (nothing written);
 * Failed → a manifest with IMS's Code and Message; Success → the artefact (`timeline.json`, or the zip behind
 * `ProjectUrl`) followed by `manifest.json`. A job that already has a manifest is not synced again.
 * Never throws for a fault of the job or of a service: the outcome says what happened and whether a retry may help.
 */
export async function syncExportJob(jobId: string, deps: SyncDependencies): Promise<SyncOutcome> {
  const logger = deps.logger.child({ job_id: jobId });
  try {
    checkJobId(jobId);
    const key = manifestKey(deps.config.outputPrefix, jobId);

    const existing = await readManifest(deps.bucket, key);
    if (existing !== undefined) {
      logger.info('Job already has a manifest; nothing to do', { result: existing.result, manifest_key: key });
      return { outcome: 'already-synced', jobId, result: existing.result, manifestKey: key };
    }

    const job = await readJob(deps.ims, jobId);
    logger.info('IMS job state read', { status: job.status, export_type: job.exportType });
    return await syncByStatus(job, key, { ...deps, logger });
  } catch (error) {
    return errorOutcome(jobId, error, logger);
  }
}

async function syncByStatus(job: ProjectExportJob, key: string, deps: SyncDependencies): Promise<SyncOutcome> {
  switch (job.status) {
    case ExportJobStatus.Init:
    case ExportJobStatus.Processing:
      return { outcome: 'pending', jobId: job.jobId, status: job.status };

    case ExportJobStatus.Failed:
      await writeManifestLogged(deps, key, buildManifest({ result: ManifestResult.Failed, job }));
      return { outcome: 'failed', jobId: job.jobId, code: job.code, message: job.message, manifestKey: key };

    case ExportJobStatus.Success:
      return await copyUnderLease(job, key, deps);
  }
}

/** Copies a successful job while holding its lease (when leases are on), after checking again for a manifest. */
async function copyUnderLease(job: ProjectExportJob, key: string, deps: SyncDependencies): Promise<SyncOutcome> {
  const { statePrefix, jobLeaseSeconds } = deps.config;
  if (statePrefix === undefined || jobLeaseSeconds === undefined) return copySuccessfulJob(job, key, deps);

  const lease = new JobLease({ bucket: deps.bucket, statePrefix, jobId: job.jobId, durationMs: jobLeaseSeconds * 1000, logger: deps.logger });
  if (!(await lease.acquire())) {
    deps.logger.info('Another run holds the job lease; leaving the copy to it');
    return { outcome: 'in-progress', jobId: job.jobId };
  }

  try {
    // The holder before this run may have finished between the first manifest check and the lease.
    const existing = await readManifest(deps.bucket, key);
    if (existing !== undefined) return { outcome: 'already-synced', jobId: job.jobId, result: existing.result, manifestKey: key };
    await abortStaleUploads(deps.bucket, `${deps.config.outputPrefix}${job.jobId}/`, deps.logger);
    return await copySuccessfulJob(job, key, deps);
  } finally {
    await lease.release().catch((error: unknown) => deps.logger.warn('Lease release failed; it expires by itself', { error }));
  }
}

async function copySuccessfulJob(job: ProjectExportJob, key: string, deps: SyncDependencies): Promise<SyncOutcome> {
  try {
    const { objects, source } = await copyArtefact(job, deps);
    await writeManifestLogged(deps, key, buildManifest({ result: ManifestResult.Copied, job, objects, source }));
    return { outcome: 'copied', jobId: job.jobId, exportType: job.exportType, objects, manifestKey: key };
  } catch (error) {
    if (!(error instanceof InvalidExportError)) throw error;

    // IMS will keep returning the same result, so the job is finished: the manifest says why nothing was copied.
    const recorded = { code: error.code, message: error.message };
    await writeManifestLogged(deps, key, buildManifest({ result: ManifestResult.Invalid, job, error: recorded }));
    return { outcome: 'error', jobId: job.jobId, reason: error.code, message: error.message, retryable: false, manifestKey: key };
  }
}

async function copyArtefact(job: ProjectExportJob, deps: SyncDependencies): Promise<{ objects: WrittenObject[]; source: Manifest['source'] }> {
  if (job.exportType === ExportType.BaseTimeline) {
    const written = await copyTimeline(job, deps);
    return { objects: [written], source: { type: 'Timeline' } };
  }
  if (job.exportType === ExportType.AdobePremierePro) {
    const { written, source } = await copyProjectZip(job, deps);
    return { objects: [written], source: { type: 'ProjectUrl', ...source } };
  }
  throw new InvalidExportError(`Job ${job.jobId} has ExportType "${job.exportType}", which this product cannot copy`, 'UnsupportedExportType');
}

/** Stores the Timeline as `timeline.json`, verbatim when IMS sent JSON text. */
async function copyTimeline(job: ProjectExportJob, deps: SyncDependencies): Promise<WrittenObject> {
  const text = timelineText(job);
  const key = `${deps.config.outputPrefix}${job.jobId}/timeline.json`;
  const written = await uploadStream(deps.bucket, key, [Buffer.from(text, 'utf8')], {
    contentType: 'application/json',
    meta: { 'ims-job-id': job.jobId },
    partSize: deps.upload?.partSize ?? DEFAULT_PART_SIZE,
    queueSize: deps.upload?.queueSize ?? DEFAULT_QUEUE_SIZE,
    logger: deps.logger,
  });
  deps.logger.info('Timeline written', { key, size: written.size, crc64: written.crc64 });
  return written;
}

/** Returns the Timeline as JSON text, or throws `InvalidExportError` when it is missing or not a JSON object. */
export function timelineText(job: ProjectExportJob): string {
  const timeline = job.timeline;
  if (timeline === undefined) {
    throw new InvalidExportError(`Job ${job.jobId} succeeded but ExportResult.Timeline is empty`, 'MissingTimeline');
  }
  if (typeof timeline !== 'string') return JSON.stringify(timeline);

  let parsed: unknown;
  try {
    parsed = JSON.parse(timeline);
  } catch (error) {
    throw new InvalidExportError(`Job ${job.jobId} has a Timeline that is not valid JSON: ${messageOf(error)}`, 'InvalidTimeline', { cause: error });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new InvalidExportError(`Job ${job.jobId} has a Timeline that is JSON but not an object`, 'InvalidTimeline');
  }
  return timeline;
}

/**
 * Copies the zip behind ProjectUrl to `<OUTPUT_PREFIX><JobId>/<zip name>`: inside OSS when the URL names an
 * object in the destination's region that the function's credentials can read, else by streaming the
 * download. An expired URL is replaced by asking IMS for the job again; a broken or corrupted transfer is
 * started again from the beginning.
 */
async function copyProjectZip(job: ProjectExportJob, deps: SyncDependencies): Promise<{ written: WrittenObject; source: ZipSource }> {
  const projectUrl = requireProjectUrl(job);
  const url = checkSourceUrl(projectUrl, deps.config.sourceHosts);
  const key = `${deps.config.outputPrefix}${job.jobId}/${zipFileName(projectUrl)}`;

  const copied = await tryServerSideCopy(url, key, job, deps);
  if (copied !== undefined) return { written: copied, source: { ...describeUrl(url), copy: 'server-side' } };

  const { written, location } = await downloadProjectZip(job, key, deps);
  return { written, source: { ...location, copy: 'download' } };
}

type ZipSource = SourceLocation & { copy: 'server-side' | 'download' };

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

async function downloadProjectZip(job: ProjectExportJob, key: string, deps: SyncDependencies): Promise<{ written: WrittenObject; location: SourceLocation }> {
  let current = job;
  for (let attempt = 1; ; attempt += 1) {
    let source: OpenedSource | undefined;
    try {
      source = await openSource(requireProjectUrl(current), { allowedHosts: deps.config.sourceHosts });
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
      if (error instanceof SourceError && error.reason === SourceErrorReason.Expired) current = await readJob(deps.ims, job.jobId);
    }
  }
}

/** True for failures that a fresh download may not repeat: broken transfers, corrupted bytes, expired URLs. */
function isRepeatableCopyFailure(error: unknown): boolean {
  if (error instanceof SourceError) return error.retryable;
  return error instanceof OssError && error.code === CRC64_MISMATCH;
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

async function readJob(ims: ExportJobReader, jobId: string): Promise<ProjectExportJob> {
  const job = await ims.getProjectExportJob(jobId);
  if (job.jobId !== jobId) {
    throw new SyncError(`IMS answered for job "${job.jobId}" when asked for job "${jobId}"`);
  }
  return job;
}

async function writeManifestLogged(deps: SyncDependencies, key: string, manifest: Manifest): Promise<void> {
  const { written } = await writeManifest(deps.bucket, key, manifest);
  if (written) deps.logger.info('Manifest written', { manifest_key: key, result: manifest.result });
  else deps.logger.info('Manifest already written by another run; kept it', { manifest_key: key });
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

function errorOutcome(jobId: string, error: unknown, logger: Logger): SyncOutcome {
  const retryable = error instanceof SyncError && error.retryable;
  const reason = errorReason(error);
  logger.error('Sync failed', { reason, retryable, error });
  return { outcome: 'error', jobId, reason, message: messageOf(error), retryable };
}

function errorReason(error: unknown): string {
  if (error instanceof SourceError) return error.reason;
  if (error instanceof InvalidExportError) return error.code;
  if (error instanceof SyncError) return error.name;
  return 'UnexpectedError';
}
