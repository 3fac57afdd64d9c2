/**
 * Worker function (FC 3.0, asynchronous invocation): syncs one export job.
 * Event: `{"jobId": "..."}` (or `{"JobId": "..."}`) as a Buffer. Returns the sync outcome as JSON.
 */
import { z } from 'zod';
import { eventText, type FcContext } from '../../lib/fc-types';
import { createLogger } from '../../lib/log';
import { startInvocation } from '../../lib/runtime';
import { syncExportJob, type SyncOutcome } from '../../lib/sync';
import { settleOutcome } from '../../lib/triggers';

const workerEventSchema = z.object({ jobId: z.string().optional(), JobId: z.string().optional() });

export type WorkerResult = SyncOutcome | { outcome: 'error'; reason: 'invalid-event'; message: string; retryable: false };

/** Time kept back from the function's timeout to abort a copy cleanly and update the ledger, in milliseconds. */
const DEADLINE_MARGIN_MS = 15_000;

export async function handler(event: Buffer, context: FcContext): Promise<WorkerResult> {
  const startedAtMs = Date.now();
  const jobId = parseWorkerEvent(event);
  if (typeof jobId !== 'string') {
    createLogger('info', { function: 'worker', request_id: context.requestId }).error('Event rejected', { reason: jobId.message });
    return jobId;
  }

  const invocation = startInvocation(context, 'worker');
  const logger = invocation.logger.child({ job_id: jobId });
  logger.info('Sync started', { retry_count: context.retryCount });

  const timeoutMs = (context.function?.timeout ?? 600) * 1000;
  const deadlineMs = startedAtMs + Math.max(timeoutMs - DEADLINE_MARGIN_MS, timeoutMs / 2);
  const outcome = await syncExportJob(jobId, { ...invocation, logger, deadlineMs });
  logger.info('Sync finished', { outcome: outcome.outcome, result: outcome });

  try {
    await settleOutcome(invocation.ledger, outcome, { registeredBy: 'worker', logger });
  } catch (error) {
    // The outcome is still returned; a job that stays in the ledger by mistake syncs as already-synced next time.
    logger.error('Ledger update failed', { error });
  }
  return outcome;
}

function parseWorkerEvent(event: Buffer): string | Extract<WorkerResult, { reason: 'invalid-event' }> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(eventText(event));
  } catch {
    return invalidEvent('the event is not JSON; expected {"jobId": "<JobId>"}');
  }

  const result = workerEventSchema.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    return invalidEvent(`${issue?.path.join('.') || 'event'}: ${issue?.message ?? 'invalid'}; expected {"jobId": "<JobId>"}`);
  }
  const jobId = (result.data.jobId ?? result.data.JobId)?.trim();
  return jobId ? jobId : invalidEvent('the event names no jobId; expected {"jobId": "<JobId>"}');
}

function invalidEvent(message: string): Extract<WorkerResult, { reason: 'invalid-event' }> {
  return { outcome: 'error', reason: 'invalid-event', message, retryable: false };
}
