/**
 * Callback function (FC 3.0 HTTP trigger): takes an IMS callback, a job's NotifyAddress call, or a POST from
 * the customer's own systems, records the job in the ledger and hands it to the worker.
 *
 * Every refusal (401, 405, 413, 400) happens before anything is written. The callback is only a hint: the
 * worker confirms the job's state with GetProjectExportJob before it copies anything.
 */
import { authenticateCallback } from '../../lib/callback-auth';
import { ConfigError } from '../../lib/errors';
import type { FcContext, FcHttpEvent, FcHttpResponse } from '../../lib/fc-types';
import { bodyBytes, headerOf, HttpRejection, httpMethod, jobIdFromCallbackBody, jsonResponse, parseHttpEvent } from '../../lib/http-event';
import { createLogger, type Logger } from '../../lib/log';
import { startInvocation, type Invocation } from '../../lib/runtime';
import { acceptJob, type AcceptResult } from '../../lib/triggers';

export async function handler(event: Buffer, context: FcContext): Promise<FcHttpResponse> {
  const startedAtMs = Date.now();
  const logger = createLogger('info', { function: 'callback', request_id: context.requestId });

  let invocation: Invocation;
  try {
    invocation = startInvocation(context, 'callback');
  } catch (error) {
    // Details are in the log; the caller learns only that the function cannot take callbacks now.
    logger.error('Callback rejected: the settings are invalid', { error });
    return jsonResponse(500, { error: error instanceof ConfigError ? 'the function is misconfigured; see its logs' : 'internal error' });
  }

  let jobId: string;
  try {
    jobId = checkRequest(parseHttpEvent(event), invocation, logger);
  } catch (error) {
    if (!(error instanceof HttpRejection)) throw error;
    logger.warn('Callback rejected', { status: error.statusCode, reason: error.message });
    return jsonResponse(error.statusCode, { error: error.message }, error.statusCode === 405 ? { allow: 'POST' } : {});
  }

  const timeoutMs = (context.function?.timeout ?? 30) * 1000;
  const accepting = acceptJob(jobId, { ...invocation, deadlineMs: startedAtMs + timeoutMs - Math.min(5_000, timeoutMs / 2) });
  try {
    // With a worker, IMS expects a response within 3 s; without one the sync runs inline and takes its time.
    const result = invocation.dispatcher === undefined ? await accepting : await withinBudget(accepting, HAND_OFF_BUDGET_MS - (Date.now() - startedAtMs));
    if (result === undefined) {
      invocation.logger.warn('Callback not recorded and handed off in time; asking for a retry', { job_id: jobId, budget_ms: HAND_OFF_BUDGET_MS });
      accepting.catch((error: unknown) => invocation.logger.error('Callback hand-off failed after the response', { job_id: jobId, error }));
      return jsonResponse(503, { error: 'the job was not recorded and handed off in time; send the callback again' });
    }
    invocation.logger.info('Callback accepted', { job_id: jobId, mode: result.mode });
    return jsonResponse(200, { accepted: true, ...publicResult(result) });
  } catch (error) {
    // Nothing reached the ledger, so the caller should send the callback again (IMS retries twice). The
    // details (endpoints, SDK state) stay in the log.
    invocation.logger.error('Callback could not be recorded', { job_id: jobId, error });
    return jsonResponse(503, { error: 'the job could not be recorded; send the callback again' });
  }
}

/** Time the callback allows itself to record and hand off a job, in milliseconds: IMS waits 3 s. */
const HAND_OFF_BUDGET_MS = 2_500;

/** Resolves with the promise's value, or with undefined once `budgetMs` has passed. */
async function withinBudget<T>(promise: Promise<T>, budgetMs: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), Math.max(0, budgetMs));
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Returns the accept result as the caller sees it; a failed hand-off's reason stays in the log. */
function publicResult(result: AcceptResult): Record<string, unknown> {
  return result.mode === 'dispatch-failed' ? { mode: result.mode, jobId: result.jobId } : { ...result };
}

/** Authenticates and validates the request; returns the JobId it names or throws an `HttpRejection`. */
function checkRequest(event: FcHttpEvent, invocation: Invocation, logger: Logger): string {
  const auth = authenticateCallback(
    {
      timestamp: headerOf(event, 'x-ice-timestamp'),
      signature: headerOf(event, 'x-ice-signature'),
      token: event.queryParameters.token ?? headerOf(event, 'x-callback-token'),
    },
    invocation.config,
  );
  if (!auth.ok) throw new HttpRejection(401, auth.failure);
  logger.debug('Callback authenticated', { method: auth.method });

  if (httpMethod(event) !== 'POST') throw new HttpRejection(405, `method ${httpMethod(event) || '(none)'} is not allowed; use POST`);
  return jobIdFromCallbackBody(bodyBytes(event));
}
