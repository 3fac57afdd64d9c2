/**
 * Poller function (FC 3.0 timer trigger): one tick of the ledger. Takes the payload's optional
 * `{"jobIds": [...]}` into the ledger, then works the due jobs until shortly before the function's timeout.
 */
import { eventText, type FcContext } from '../../lib/fc-types';
import { isValidJobId } from '../../lib/job-id';
import { startInvocation } from '../../lib/runtime';
import { runTick, type TickSummary } from '../../lib/triggers';

/** Time kept back from the function's timeout for writing the summary, in milliseconds. */
const DEADLINE_MARGIN_MS = 10_000;

/** Characters of a rejected entry or an ignored payload kept in the result and the log. */
const SHOWN_CHARACTERS = 80;

export interface PollerResult extends TickSummary {
  triggerTime: string | undefined;
  /**
   * Payload `jobIds` entries that are not plain JobIds and so were not registered: strings as given (trimmed),
   * other values as JSON, each cut to 80 characters.
   */
  rejectedJobIds: string[];
}

export async function handler(event: Buffer, context: FcContext): Promise<PollerResult> {
  const startedAtMs = Date.now();
  const invocation = startInvocation(context, 'poller');
  const { triggerTime, jobIds, rejectedJobIds, problem, payload } = parseTimerEvent(event);
  if (problem !== undefined) invocation.logger.warn('Timer payload ignored', { problem, payload });
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

interface TimerEvent {
  triggerTime: string | undefined;
  jobIds: string[];
  rejectedJobIds: string[];
  /** Reason the whole payload was ignored; undefined when it was read or is empty. */
  problem?: string;
  /** The ignored payload, cut to 80 characters, for the warning. */
  payload?: string;
}

/**
 * Reads the trigger time and the payload's `jobIds`. An empty event, an empty payload and a payload without
 * `jobIds` are normal. A payload that cannot be read is ignored with a `problem`, and each `jobIds` entry that
 * is not a plain JobId is listed in `rejectedJobIds`.
 */
function parseTimerEvent(event: Buffer): TimerEvent {
  const text = eventText(event);
  const fields = text.trim() === '' ? {} : parseJson(text);
  if (!isJsonObject(fields)) return ignored(undefined, 'the event is not a JSON object', text);

  const triggerTime = typeof fields.triggerTime === 'string' ? fields.triggerTime : undefined;
  const payload = fields.payload;
  if (payload === undefined || payload === null || payload === '') return { triggerTime, jobIds: [], rejectedJobIds: [] };
  // FC sends the payload as the string configured on the trigger; an object (from a local harness) is read as is.
  if (typeof payload !== 'string' && !isJsonObject(payload)) return ignored(triggerTime, 'payload is neither a string nor an object', JSON.stringify(payload));

  const parsed = typeof payload === 'string' ? parseJson(payload) : payload;
  const payloadText = typeof payload === 'string' ? payload : JSON.stringify(payload);
  if (parsed === undefined) return ignored(triggerTime, 'payload is not JSON: expected {"jobIds": ["<JobId>", ...]}', payloadText);
  if (!isJsonObject(parsed)) return ignored(triggerTime, 'payload is not a JSON object: expected {"jobIds": ["<JobId>", ...]}', payloadText);
  if (parsed.jobIds === undefined) return { triggerTime, jobIds: [], rejectedJobIds: [] };
  if (!Array.isArray(parsed.jobIds)) return ignored(triggerTime, 'jobIds is not an array: expected {"jobIds": ["<JobId>", ...]}', payloadText);

  const jobIds: string[] = [];
  const rejectedJobIds: string[] = [];
  for (const entry of parsed.jobIds as unknown[]) {
    const jobId = typeof entry === 'string' ? entry.trim() : undefined;
    if (jobId !== undefined && isValidJobId(jobId)) jobIds.push(jobId);
    else rejectedJobIds.push(shorten(jobId ?? JSON.stringify(entry)));
  }
  return { triggerTime, jobIds, rejectedJobIds };
}

function ignored(triggerTime: string | undefined, problem: string, payload: string): TimerEvent {
  return { triggerTime, jobIds: [], rejectedJobIds: [], problem, payload: shorten(payload) };
}

function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Cuts `text` to 80 characters, marking the cut with "...". */
function shorten(text: string): string {
  return text.length > SHOWN_CHARACTERS ? `${text.slice(0, SHOWN_CHARACTERS)}...` : text;
}

/** Parses JSON text, or returns undefined when it is not JSON (JSON itself never yields undefined). */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
