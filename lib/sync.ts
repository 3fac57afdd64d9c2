import type { Config } from './config';
import { ImsApiError, InvalidExportError, OssError, SourceError, SyncError, messageOf } from './errors';
import { ExportJobStatus, ExportType, type ProjectExportJob } from './ims-schema';
import { checkJobId } from './job-id';
import { JobLease } from './lease';
import type { Logger } from './log';
import { ManifestResult, buildManifest, manifestKey, readManifest, writeManifest, type Manifest } from './manifest';
import type { OssBucket, WrittenObject } from './oss';
import { copyProjectZip } from './copy-zip';
import { abortStaleUploads, DEFAULT_PART_SIZE, DEFAULT_QUEUE_SIZE, uploadStream } from './upload';

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
  /** `code` is the service's error code when IMS or OSS rejected a request, such as InvalidParameter.JobNotFound. */
  | { outcome: 'error'; jobId: string; reason: string; message: string; retryable: boolean; code?: string; manifestKey?: string };


/**
 * Syncs one project export job into the destination bucket.
 *
 * Confirms the job's state with GetProjectExportJob, then: Init or Processing → `pending` (nothing written);
 * Failed → a manifest with IMS's Code and Message; Success → the artefact (`timeline.json`, or the zip behind
 * `ProjectUrl`) followed by `manifest.json`. A job that already has a manifest is not synced again.
 * Never throws for a fault of the job or of a service: the outcome records what happened and whether a retry may help.
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
  let acquired: boolean;
  try {
    acquired = await lease.acquire();
  } catch (error) {
    // The lease only saves duplicate downloads: the copy and the manifest are safe to repeat, so a lease that
    // cannot be written (a policy without the state prefix, a store without x-oss-forbid-overwrite) does not
    // stop the copy.
    deps.logger.warn('Job lease could not be taken; copying without it', { error });
    return copySuccessfulJob(job, key, deps);
  }
  if (!acquired) {
    deps.logger.info('Job lease held by another run; that run copies the job');
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

    // IMS keeps returning the same result, so the job is finished, and the manifest records why nothing was copied.
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
    const { written, source } = await copyProjectZip(job, deps, () => readJob(deps.ims, job.jobId));
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

async function readJob(ims: ExportJobReader, jobId: string): Promise<ProjectExportJob> {
  const job = await ims.getProjectExportJob(jobId);
  if (job.jobId !== jobId) {
    throw new SyncError(`IMS returned job "${job.jobId}" for a request for job "${jobId}"`);
  }
  return job;
}

async function writeManifestLogged(deps: SyncDependencies, key: string, manifest: Manifest): Promise<void> {
  const { written } = await writeManifest(deps.bucket, key, manifest);
  if (written) deps.logger.info('Manifest written', { manifest_key: key, result: manifest.result });
  else deps.logger.info('Manifest already written by another run; kept it', { manifest_key: key });
}

function errorOutcome(jobId: string, error: unknown, logger: Logger): SyncOutcome {
  const retryable = error instanceof SyncError && error.retryable;
  const reason = errorReason(error);
  const code = error instanceof ImsApiError || error instanceof OssError ? error.code : undefined;
  logger.error('Sync failed', { reason, retryable, error });
  return { outcome: 'error', jobId, reason, message: messageOf(error), retryable, ...(code === undefined ? {} : { code }) };
}

function errorReason(error: unknown): string {
  if (error instanceof SourceError) return error.reason;
  if (error instanceof InvalidExportError) return error.code;
  if (error instanceof SyncError) return error.name;
  return 'UnexpectedError';
}
