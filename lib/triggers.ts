import type { Config } from './config';
import { messageOf } from './errors';
import { ExportJobStatus } from './ims-schema';
import { Ledger, type DueEntry, type LedgerRecord } from './ledger';
import type { Logger } from './log';
import { ManifestResult, buildManifest, manifestKey, writeManifest } from './manifest';
import type { OssBucket } from './oss';
import { syncExportJob, type ExportJobReader, type SyncDependencies, type SyncOutcome } from './sync';

/** Hands a job to the worker function (asynchronous FC invocation). */
export interface WorkerDispatcher {
  dispatch(jobId: string): Promise<unknown>;
}

export interface TriggerDependencies {
  config: SyncDependencies['config'] & Pick<Config, 'statePrefix' | 'jobMaxAgeHours'>;
  ims: ExportJobReader;
  bucket: OssBucket;
  ledger: Ledger;
  logger: Logger;
  /** Set when WORKER_FUNCTION is set; without it jobs are synced inline. */
  dispatcher?: WorkerDispatcher;
  /** Epoch milliseconds by which an inline sync must end; a copy that cannot finish by then is not started. */
  deadlineMs?: number;
}

/**
 * How long a JobId that IMS reports as not found stays in the ledger. A new job may not be readable at once,
 * but one that IMS still does not know after an hour was most likely mistyped.
 */
export const UNKNOWN_JOB_GRACE_MS = 3_600_000;

/**
 * True when IMS reported that the job does not exist. NOTE: IMS documents no not-found code for
 * GetProjectExportJob; any code containing "NotFound" counts, such as InvalidParameter.JobNotFound.
 */
export function isUnknownJob(outcome: SyncOutcome): boolean {
  return outcome.outcome === 'error' && /NotFound/i.test(outcome.code ?? '');
}

/** True when the outcome ends the job: nothing is left for the ledger to retry. */
export function isFinished(outcome: SyncOutcome): boolean {
  if (outcome.outcome === 'error') return outcome.manifestKey !== undefined;
  // Another run holds the lease and copies the job, but it may crash: the job stays in the ledger until a
  // run finds its manifest.
  return outcome.outcome !== 'pending' && outcome.outcome !== 'in-progress';
}

/**
 * Records a sync outcome in the ledger: a finished job leaves it, an unfinished one is registered (or, when
 * `record` is given, rescheduled with backoff) so that a timer tick finishes it later.
 */
export async function settleOutcome(
  ledger: Ledger,
  outcome: SyncOutcome,
  options: { registeredBy: string; record?: LedgerRecord; logger?: Logger },
): Promise<void> {
  if (isFinished(outcome)) {
    await ledger.markDone(outcome.jobId);
    return;
  }
  if (outcome.outcome === 'error' && isUnknownJob(outcome)) {
    const record = options.record ?? (await ledger.get(outcome.jobId));
    if (record !== undefined && Date.now() - record.registeredAtMs > UNKNOWN_JOB_GRACE_MS) {
      // No manifest: there is no job whose end it could mark, and a mistyped JobId should leave no folder.
      await ledger.markDone(outcome.jobId);
      options.logger?.warn('IMS still does not know the job; removed it from the ledger', { job_id: outcome.jobId, code: outcome.code });
      return;
    }
  }
  // A JobId that is not a plain ID cannot become an object key, so there is nothing to record.
  if (outcome.outcome === 'error' && outcome.reason === 'InvalidJobIdError') return;
  // The run holding the lease settles the job. This run only makes sure the job is recorded, in case that run
  // dies. It neither reschedules nor counts an attempt, because that would leave extra markers behind.
  if (outcome.outcome === 'in-progress') {
    if (options.record === undefined) await ledger.register(outcome.jobId, { registeredBy: options.registeredBy, dueAtMs: Date.now() + ledger.backoffMs(1) });
    return;
  }

  const details = {
    outcome: outcome.outcome,
    ...(outcome.outcome === 'error' ? { reason: outcome.reason } : {}),
    ...(outcome.outcome === 'pending' ? { status: outcome.status } : {}),
  };
  if (options.record !== undefined) {
    await ledger.reschedule(options.record, details);
    return;
  }
  const record = await ledger.register(outcome.jobId, { registeredBy: options.registeredBy, dueAtMs: Date.now() + ledger.backoffMs(1) });
  // Records this run's outcome but keeps the due time the timer chose; an attempt is counted only if the
  // timer has not counted it already.
  await ledger.reschedule(record, { ...details, dueAtMs: record.dueAtMs, countAttempt: record.lastOutcome === undefined });
}

export type AcceptResult =
  | { mode: 'dispatched'; jobId: string }
  | { mode: 'dispatch-failed'; jobId: string; reason: string }
  | { mode: 'inline'; jobId: string; outcome: SyncOutcome };

/**
 * Takes a job that a callback named: records it in the ledger, then hands it to the worker (or syncs it
 * inline without one). The ledger entry comes first, so the job is finished by a timer tick whatever
 * happens to the hand-off.
 */
export async function acceptJob(jobId: string, deps: TriggerDependencies): Promise<AcceptResult> {
  const logger = deps.logger.child({ job_id: jobId });
  const record = await deps.ledger.register(jobId, { registeredBy: 'callback', dueAtMs: Date.now() + deps.ledger.backoffMs(1) });
  logger.info('Job recorded in the ledger', { due_at: new Date(record.dueAtMs).toISOString(), attempts: record.attempts });

  if (deps.dispatcher === undefined) {
    const outcome = await syncExportJob(jobId, { ...deps, logger });
    await settleOutcome(deps.ledger, outcome, { registeredBy: 'callback', record: await deps.ledger.get(jobId), logger });
    return { mode: 'inline', jobId, outcome };
  }

  try {
    await deps.dispatcher.dispatch(jobId);
    logger.info('Job handed to the worker');
    return { mode: 'dispatched', jobId };
  } catch (error) {
    logger.error('Hand-off to the worker failed; the job stays due in the ledger', { error });
    await deps.ledger.reschedule(record, { outcome: 'dispatch-failed', dueAtMs: Date.now(), countAttempt: false });
    return { mode: 'dispatch-failed', jobId, reason: messageOf(error) };
  }
}

export interface TickOptions {
  /** JobIds from the timer's payload, registered before the due jobs are listed. */
  jobIds?: readonly string[];
  /** Epoch milliseconds by which the tick must have returned. */
  deadlineMs: number;
  /** Jobs worked on at once. */
  concurrency?: number;
  /** Most due jobs taken in one tick. */
  maxJobs?: number;
  /** Time one job needs at least, in milliseconds; a job is not started with less time left. */
  minimumJobMs?: number;
}

export interface TickJobResult {
  jobId: string;
  outcome: string;
  reason?: string;
}

export interface TickSummary {
  due: number;
  started: number;
  /** Due jobs left for the next tick because the deadline was near. */
  deferred: number;
  outcomes: Record<string, number>;
  jobs: TickJobResult[];
}

/**
 * Runs one timer tick: registers the payload's JobIds, lists the due jobs and works them with bounded
 * concurrency, dispatching each to the worker or syncing it inline. One job's failure never stops the
 * rest, and no job is started that could not finish before `deadlineMs`.
 */
export async function runTick(deps: TriggerDependencies, options: TickOptions): Promise<TickSummary> {
  for (const jobId of options.jobIds ?? []) {
    await deps.ledger.register(jobId, { registeredBy: 'poller', dueNow: true });
  }

  const due = await deps.ledger.listDue(options.maxJobs ?? 100);
  const results: TickJobResult[] = [];
  const minimumJobMs = options.minimumJobMs ?? (deps.dispatcher === undefined ? 30_000 : 3_000);
  // Markers of one job are worked one after another: two runs adopting orphan markers of the same job at
  // once would each write a record, and the first to finish would remove only the other's marker.
  const markersByJob = groupByJob(due);
  let next = 0;
  let deferred = 0;

  const workerLoop = async (): Promise<void> => {
    while (next < markersByJob.length) {
      const entries = markersByJob[next]!;
      next += 1;
      for (const entry of entries) {
        if (Date.now() + minimumJobMs > options.deadlineMs) {
          deferred += 1;
          continue;
        }
        results.push(await workDueJob(entry, { ...deps, deadlineMs: options.deadlineMs }));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, workerLoop));

  const outcomes: Record<string, number> = {};
  for (const result of results) outcomes[result.outcome] = (outcomes[result.outcome] ?? 0) + 1;
  return { due: due.length, started: results.length, deferred, outcomes, jobs: results };
}

/** Groups due markers by JobId, in the order each job's earliest marker was listed. */
function groupByJob(due: readonly DueEntry[]): DueEntry[][] {
  const groups = new Map<string, DueEntry[]>();
  for (const entry of due) {
    const group = groups.get(entry.jobId);
    if (group === undefined) groups.set(entry.jobId, [entry]);
    else group.push(entry);
  }
  return [...groups.values()];
}

async function workDueJob(entry: DueEntry, deps: TriggerDependencies): Promise<TickJobResult> {
  const logger = deps.logger.child({ job_id: entry.jobId });
  try {
    const record = await deps.ledger.recordFor(entry);
    if (record === undefined) return { jobId: entry.jobId, outcome: 'stale-marker' };
    if (deps.dispatcher === undefined) return await syncDueJob(record, deps, logger);

    // The worker never gives a job up, so a job past JOB_MAX_AGE_HOURS is synced here, where an unfinished
    // outcome ends it. A job that IMS reports as Success still goes to the worker, which has the time to copy a
    // large zip, unless the worker's last copy of it failed: then it ends here.
    if (deps.ledger.isExpired(record, deps.config.jobMaxAgeHours)) {
      if (!(await imsReportsSuccess(record.jobId, deps, logger))) return await syncDueJob(record, deps, logger);
      if (record.lastOutcome === 'error') {
        const lastFailure: SyncOutcome = {
          outcome: 'error',
          jobId: record.jobId,
          reason: record.lastReason ?? 'unknown',
          message: `the last copy failed (${record.lastReason ?? 'unknown reason'})`,
          retryable: true,
        };
        await giveUp({ ...record, lastStatus: 'Success' }, lastFailure, deps, logger);
        return { jobId: record.jobId, outcome: 'given-up' };
      }
    }
    return await dispatchDueJob(record, deps, logger);
  } catch (error) {
    // The job keeps its marker, so the next tick tries it again.
    logger.error('Due job failed', { error });
    return { jobId: entry.jobId, outcome: 'error', reason: messageOf(error) };
  }
}

async function dispatchDueJob(record: LedgerRecord, deps: TriggerDependencies, logger: Logger): Promise<TickJobResult> {
  // Moved forward first, so that the next tick does not dispatch it again while the worker runs.
  const rescheduled = await deps.ledger.reschedule(record, { outcome: 'dispatched' });
  try {
    await deps.dispatcher!.dispatch(record.jobId);
    return { jobId: record.jobId, outcome: 'dispatched' };
  } catch (error) {
    logger.error('Hand-off to the worker failed; the job stays due', { error });
    await deps.ledger.reschedule(rescheduled, { outcome: 'dispatch-failed', dueAtMs: Date.now(), countAttempt: false });
    return { jobId: record.jobId, outcome: 'dispatch-failed', reason: messageOf(error) };
  }
}

async function imsReportsSuccess(jobId: string, deps: TriggerDependencies, logger: Logger): Promise<boolean> {
  try {
    return (await deps.ims.getProjectExportJob(jobId)).status === ExportJobStatus.Success;
  } catch (error) {
    // The inline sync that follows requests the job from IMS again and records its error in the manifest.
    logger.warn('Reading the state of an expired job failed', { error });
    return false;
  }
}

async function syncDueJob(record: LedgerRecord, deps: TriggerDependencies, logger: Logger): Promise<TickJobResult> {
  const outcome = await syncExportJob(record.jobId, { ...deps, logger });
  if (!isFinished(outcome) && !isUnknownJob(outcome) && deps.ledger.isExpired(record, deps.config.jobMaxAgeHours)) {
    await giveUp(record, outcome, deps, logger);
    return { jobId: record.jobId, outcome: 'given-up' };
  }

  await settleOutcome(deps.ledger, outcome, { registeredBy: 'poller', record, logger });
  return { jobId: record.jobId, outcome: outcome.outcome, ...(outcome.outcome === 'error' ? { reason: outcome.reason } : {}) };
}

/** Writes a `given-up` manifest for a job that outlived JOB_MAX_AGE_HOURS and removes it from the ledger. */
async function giveUp(record: LedgerRecord, outcome: SyncOutcome, deps: TriggerDependencies, logger: Logger): Promise<void> {
  const status = outcome.outcome === 'pending' ? outcome.status : (record.lastStatus ?? 'Unknown');
  const reason = outcome.outcome === 'error' ? outcome.message : `the job was still ${status}`;
  const manifest = buildManifest({
    result: ManifestResult.GivenUp,
    job: { jobId: record.jobId, projectId: undefined, exportType: '', status: status as never, code: undefined, message: undefined, timeline: undefined, projectUrl: undefined, userData: undefined },
    error: { code: 'JobMaxAgeExceeded', message: `Gave up after ${deps.config.jobMaxAgeHours} hours: ${reason}` },
  });
  await writeManifest(deps.bucket, manifestKey(deps.config.outputPrefix, record.jobId), manifest);
  await deps.ledger.markDone(record.jobId);
  logger.warn('Job given up', { attempts: record.attempts, status });
}
