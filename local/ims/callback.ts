import { createHash } from 'node:crypto';
import { sleep } from '../common/http';

// NOTE: IMS documents no event type for finished project export jobs. This name is a placeholder, so
// receivers must not depend on it; pass `eventType` to send another.
export const DEFAULT_CALLBACK_EVENT_TYPE = 'ProjectExportComplete';

/** A 16-digit Alibaba Cloud account ID, sent as a JSON number as IMS does. */
export const DEFAULT_CALLBACK_USER_ID = 1234567890123456;

/** IMS's delivery rule: a delivery succeeds on HTTP 200 within 3 s, and IMS makes 3 attempts 1 s apart. */
export const IMS_DELIVERY_RULE = {
  timeoutMs: 3000,
  attempts: 3,
  retryIntervalMs: 1000,
} as const;

export interface DeliveryRule {
  timeoutMs: number;
  attempts: number;
  retryIntervalMs: number;
}

export interface SendCallbackOptions {
  /** Receiver URL of the POST. */
  url: string;
  /** The AuthKey configured in IMS. Without it no X-ICE-* headers are sent, as with AuthSwitch off. */
  authKey?: string;
  /** The callback URL in the signed string. Default `url`. */
  callbackUrl?: string;
  /** Default `DEFAULT_CALLBACK_EVENT_TYPE`. */
  eventType?: string;
  /** Default `DEFAULT_CALLBACK_USER_ID`. */
  userId?: number;
  messageBody: Record<string, unknown>;
  /** Unix seconds used for `X-ICE-TIMESTAMP` and `EventTime`. Default: now. */
  timestampSeconds?: number;
  /** Default `IMS_DELIVERY_RULE`; tests may shorten it. */
  delivery?: Partial<DeliveryRule>;
}

/** The outcome of one POST. */
export interface CallbackAttempt {
  /** 1 for the first attempt. */
  attempt: number;
  /** HTTP status, when the receiver responded within the timeout. */
  status?: number;
  /** Failure without a status, such as a timeout or a refused connection. */
  error?: string;
  durationMs: number;
  delivered: boolean;
}

export interface CallbackDelivery {
  delivered: boolean;
  attempts: CallbackAttempt[];
  /** Headers sent with every attempt. */
  headers: Record<string, string>;
  /** The JSON body sent with every attempt. */
  body: string;
}

/**
 * Computes `X-ICE-SIGNATURE`: the lower-case hex MD5 of `<callback URL>|<timestamp>|<AuthKey>` in UTF-8,
 * as IMS's callback authentication describes.
 */
export function iceCallbackSignature(callbackUrl: string, timestamp: number | string, authKey: string): string {
  return createHash('md5').update(`${callbackUrl}|${timestamp}|${authKey}`, 'utf8').digest('hex');
}

/**
 * POSTs an IMS event envelope to `url` and retries as IMS does until one attempt gets HTTP 200 in time.
 * Every attempt carries the same body, timestamp and signature.
 */
export async function sendIceCallback(options: SendCallbackOptions): Promise<CallbackDelivery> {
  const rule: DeliveryRule = { ...IMS_DELIVERY_RULE, ...options.delivery };
  const timestampSeconds = options.timestampSeconds ?? Math.floor(Date.now() / 1000);
  const body = JSON.stringify({
    EventType: options.eventType ?? DEFAULT_CALLBACK_EVENT_TYPE,
    UserId: options.userId ?? DEFAULT_CALLBACK_USER_ID,
    EventTime: formatEventTime(timestampSeconds),
    MessageBody: options.messageBody,
  });
  const headers = callbackHeaders(options, timestampSeconds);

  const attempts: CallbackAttempt[] = [];
  for (let attempt = 1; attempt <= rule.attempts; attempt += 1) {
    if (attempt > 1) await sleep(rule.retryIntervalMs);
    const result = await postOnce(options.url, headers, body, rule.timeoutMs);
    attempts.push({ attempt, ...result });
    if (result.delivered) break;
  }
  return { delivered: attempts.some((attempt) => attempt.delivered), attempts, headers, body };
}

// NOTE: the Content-Type IMS sends is undocumented beyond "a JSON body"; application/json is a guess.
function callbackHeaders(options: SendCallbackOptions, timestampSeconds: number): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.authKey !== undefined) {
    const signedUrl = options.callbackUrl ?? options.url;
    headers['x-ice-timestamp'] = String(timestampSeconds);
    headers['x-ice-signature'] = iceCallbackSignature(signedUrl, timestampSeconds, options.authKey);
  }
  return headers;
}

async function postOnce(
  url: string,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
): Promise<Omit<CallbackAttempt, 'attempt'>> {
  const startedAt = performance.now();
  const elapsed = (): number => Math.round(performance.now() - startedAt);
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers,
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    // IMS ignores the response body, but the response is complete only once the body has arrived.
    await response.arrayBuffer();
    return { status: response.status, durationMs: elapsed(), delivered: response.status === 200 };
  } catch (error) {
    return { error: describeFailure(error, timeoutMs), durationMs: elapsed(), delivered: false };
  }
}

function describeFailure(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    return `timed out after ${timeoutMs} ms`;
  }
  const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${error instanceof Error ? error.message : String(error)}${cause}`;
}

/** Formats Unix seconds as `yyyy-MM-ddTHH:mm:ssZ` in UTC. */
export function formatEventTime(timestampSeconds: number): string {
  return new Date(timestampSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
