import type { Config } from './config';
import { InvalidExportError, SourceError, SourceErrorReason, SyncError, messageOf } from './errors';
import { ExportJobStatus, ExportType, type ProjectExportJob } from './ims-schema';
import { checkJobId } from './job-id';
import type { Logger } from './log';
import { ManifestResult, buildManifest, manifestKey, readManifest, writeManifest, type Manifest } from './manifest';
import type { OssBucket, WrittenObject } from './oss';
import { openSource, type OpenedSource } from './source';
import { uploadStream } from './upload';

/** The IMS calls `syncExportJob` makes. */
export interface ExportJobReader {
  getProjectExportJob(jobId: string): Promise<ProjectExportJob>;
}

export interface SyncDependencies {
  config: Pick<Config, 'outputPrefix' | 'sourceHosts'>;
  ims: ExportJobReader;
  bucket: OssBucket;
  logger: Logger;
  /** Part size and parts in flight of the zip upload. */
  upload?: { partSize?: number; queueSize?: number };
  /** How often a copy in progress logs its progress, in milliseconds. */
  progressIntervalMs?: number;
}

export type SyncOutcome =
  | { outcome: 'copied'; jobId: string; exportType: string; objects: WrittenObject[]; manifestKey: string }
  | { outcome: 'already-synced'; jobId: string; result: string; manifestKey: string }
  | { outcome: 'pending'; jobId: string; status: string }
  | { outcome: 'failed'; jobId: string; code: string | undefined; message: string | undefined; manifestKey: string }
  | { outcome: 'error'; jobId: string; reason: string; message: string; retryable: boolean; manifestKey?: string };

/** Times a download is started again: after an expired URL (with a fresh one from IMS) or a broken transfer. */
const DOWNLOAD_ATTEMPTS = 3;
const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
const DEFAULT_QUEUE_SIZE = 4;

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
      return await copySuccessfulJob(job, key, deps);
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
 * Streams the zip behind ProjectUrl into `<OUTPUT_PREFIX><JobId>/<zip name>`. An expired URL is replaced by
 * asking IMS for the job again; a broken transfer is started again from the beginning.
 */
async function copyProjectZip(job: ProjectExportJob, deps: SyncDependencies): Promise<{ written: WrittenObject; source: OpenedSource['location'] }> {
  let current = job;
  for (let attempt = 1; ; attempt += 1) {
    const projectUrl = requireProjectUrl(current);
    const key = `${deps.config.outputPrefix}${job.jobId}/${zipFileName(projectUrl)}`;
    try {
      const source = await openSource(projectUrl, { allowedHosts: deps.config.sourceHosts });
      deps.logger.info('Download started', { key, source_host: source.location.host, source_path: source.location.path, bytes_total: source.size });
      const written = await uploadStream(deps.bucket, key, source.body, {
        contentType: 'application/zip',
        meta: { 'ims-job-id': job.jobId },
        partSize: deps.upload?.partSize ?? DEFAULT_PART_SIZE,
        queueSize: deps.upload?.queueSize ?? DEFAULT_QUEUE_SIZE,
        expectedSize: source.size,
        expectedCrc64: source.crc64,
        onProgress: progressLogger(deps, key, source.size),
        logger: deps.logger,
      });
      deps.logger.info('Project zip written', { key, size: written.size, crc64: written.crc64 });
      return { written, source: source.location };
    } catch (error) {
      if (!(error instanceof SourceError) || !error.retryable || attempt >= DOWNLOAD_ATTEMPTS) throw error;

      deps.logger.warn('Download failed, starting again', { attempt, reason: error.reason, error });
      if (error.reason === SourceErrorReason.Expired) current = await readJob(deps.ims, job.jobId);
    }
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

function progressLogger(deps: SyncDependencies, key: string, total: number | undefined): (bytesRead: number) => void {
  const intervalMs = deps.progressIntervalMs ?? 5_000;
  const startedAt = Date.now();
  let lastLogAt = startedAt;

  return (bytesRead) => {
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
