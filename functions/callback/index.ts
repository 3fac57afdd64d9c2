/**
 * Callback function (FC 3.0 HTTP trigger): takes an IMS callback, a job's NotifyAddress call, or a POST from
 * the customer's own systems, records the job in the ledger and hands it to the worker.
 *
 * Every refusal (401, 405, 413, 400) happens before anything is written. The callback is only a hint: the
 * worker confirms the job's state with GetProjectExportJob before it copies anything.
 */
import { authenticateCallback } from '../../lib/callback-auth';
import { ConfigError, messageOf } from '../../lib/errors';
import type { FcContext, FcHttpEvent, FcHttpResponse } from '../../lib/fc-types';
import { bodyBytes, headerOf, HttpRejection, httpMethod, jobIdFromCallbackBody, jsonResponse, parseHttpEvent } from '../../lib/http-event';
import { createLogger, type Logger } from '../../lib/log';
import { startInvocation, type Invocation } from '../../lib/runtime';
import { acceptJob } from '../../lib/triggers';

export async function handler(event: Buffer, context: FcContext): Promise<FcHttpResponse> {
  const startedAtMs = Date.now();
  const logger = createLogger('info', { function: 'callback', request_id: context.requestId });

  let invocation: Invocation;
  try {
    invocation = startInvocation(context, 'callback');
  } catch (error) {
    // Details are in the log; the caller learns only that the function cannot take callbacks now.
    logger.error('Callback refused: the function is misconfigured', { error });
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

  try {
    const timeoutMs = (context.function?.timeout ?? 30) * 1000;
    const result = await acceptJob(jobId, { ...invocation, deadlineMs: startedAtMs + timeoutMs - Math.min(5_000, timeoutMs / 2) });
    invocation.logger.info('Callback accepted', { job_id: jobId, mode: result.mode });
    return jsonResponse(200, { accepted: true, ...result });
  } catch (error) {
    // Nothing reached the ledger, so the caller should send the callback again (IMS retries twice).
    invocation.logger.error('Callback could not be recorded', { job_id: jobId, error });
    return jsonResponse(503, { error: `the job could not be recorded, try again: ${messageOf(error)}` });
  }
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
