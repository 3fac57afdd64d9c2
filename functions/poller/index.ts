/**
 * Poller function (FC 3.0 timer trigger): one tick of the ledger. Takes the payload's optional
 * `{"jobIds": [...]}` into the ledger, then works the due jobs until shortly before the function's timeout.
 */
import { z } from 'zod';
import type { FcContext } from '../../lib/fc-types';
import { isValidJobId } from '../../lib/job-id';
import { startInvocation } from '../../lib/runtime';
import { runTick, type TickSummary } from '../../lib/triggers';

/** Time kept back from the function's timeout for writing the summary, in milliseconds. */
const DEADLINE_MARGIN_MS = 10_000;

const timerEventSchema = z.object({
  triggerTime: z.string().optional(),
  triggerName: z.string().optional(),
  payload: z.string().optional(),
});
const payloadSchema = z.object({ jobIds: z.array(z.string()).optional() });

export interface PollerResult extends TickSummary {
  triggerTime: string | undefined;
  /** Payload JobIds that were not plain IDs and so were not registered. */
  rejectedJobIds: string[];
}

export async function handler(event: Buffer, context: FcContext): Promise<PollerResult> {
  const startedAtMs = Date.now();
  const invocation = startInvocation(context, 'poller');
  const { triggerTime, jobIds, rejectedJobIds } = parseTimerEvent(event);
  if (rejectedJobIds.length > 0) invocation.logger.warn('Payload JobIds rejected', { rejected: rejectedJobIds });

  const timeoutMs = (context.function?.timeout ?? 60) * 1000;
  const deadlineMs = startedAtMs + Math.max(timeoutMs - DEADLINE_MARGIN_MS, timeoutMs / 2);
  const summary = await runTick(invocation, { jobIds, deadlineMs });

  invocation.logger.info('Tick finished', {
    trigger_time: triggerTime,
    due: summary.due,
    started: summary.started,
    deferred: summary.deferred,
    outcomes: summary.outcomes,
    // At most one entry per due job taken (100 by default), so the line stays a few kilobytes long.
    jobs: summary.jobs,
  });
  return { triggerTime, rejectedJobIds, ...summary };
}

function parseTimerEvent(event: Buffer): { triggerTime: string | undefined; jobIds: string[]; rejectedJobIds: string[] } {
  const timerEvent = timerEventSchema.safeParse(safeJson(Buffer.from(event).toString('utf8')));
  const fields = timerEvent.success ? timerEvent.data : {};
  const payload = payloadSchema.safeParse(fields.payload ? safeJson(fields.payload) : {});
  const listed = payload.success ? (payload.data.jobIds ?? []).map((id) => id.trim()) : [];

  return {
    triggerTime: fields.triggerTime,
    jobIds: listed.filter(isValidJobId),
    rejectedJobIds: listed.filter((id) => !isValidJobId(id)),
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
