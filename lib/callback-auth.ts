import { createHash, timingSafeEqual } from 'node:crypto';
import type { Config } from './config';

/** Reasons a callback is not authenticated, each naming what the caller has to fix. */
export const AuthFailure = {
  /** The function has neither CALLBACK_AUTH_KEYS nor CALLBACK_TOKEN, and CALLBACK_AUTH is not "off". */
  NotConfigured: 'callback authentication is not configured: set CALLBACK_AUTH_KEYS or CALLBACK_TOKEN (or CALLBACK_AUTH=off)',
  MissingCredentials: 'the request carries neither X-ICE-SIGNATURE with X-ICE-TIMESTAMP nor a callback token',
  InvalidTimestamp: 'X-ICE-TIMESTAMP is not a Unix time in seconds',
  StaleTimestamp: 'X-ICE-TIMESTAMP is outside the accepted clock skew',
  InvalidSignature: 'X-ICE-SIGNATURE does not match any configured AuthKey',
  InvalidToken: 'the callback token does not match',
} as const;
export type AuthFailure = (typeof AuthFailure)[keyof typeof AuthFailure];

export type AuthResult = { ok: true; method: 'ice-signature' | 'token' | 'disabled' } | { ok: false; failure: AuthFailure };

export interface CallbackCredentials {
  /** `X-ICE-TIMESTAMP` header value. */
  timestamp?: string;
  /** `X-ICE-SIGNATURE` header value. */
  signature?: string;
  /** `token` query parameter or `X-Callback-Token` header value. */
  token?: string;
}

type AuthSettings = Pick<Config, 'callbackAuthKeys' | 'callbackUrl' | 'callbackToken' | 'callbackAuthDisabled' | 'callbackMaxSkewSeconds'>;

/**
 * Computes IMS's callback signature: the lower-case hex MD5 of `<callback URL>|<timestamp>|<AuthKey>`,
 * where the URL is the one configured in IMS.
 */
export function iceCallbackSignature(callbackUrl: string, timestamp: string, authKey: string): string {
  return createHash('md5').update(`${callbackUrl}|${timestamp}|${authKey}`, 'utf8').digest('hex');
}

/**
 * Authenticates a callback: IMS's signature checked against every key in CALLBACK_AUTH_KEYS (so that a key
 * can be rotated), or the shared CALLBACK_TOKEN. Comparisons take constant time.
 */
export function authenticateCallback(request: CallbackCredentials, settings: AuthSettings, nowMs = Date.now()): AuthResult {
  const signatureConfigured = settings.callbackAuthKeys.length > 0 && settings.callbackUrl !== undefined;
  const tokenConfigured = settings.callbackToken !== undefined;
  if (!signatureConfigured && !tokenConfigured) {
    return settings.callbackAuthDisabled ? { ok: true, method: 'disabled' } : { ok: false, failure: AuthFailure.NotConfigured };
  }

  if (signatureConfigured && request.signature !== undefined && request.timestamp !== undefined) {
    return checkIceSignature(request.signature, request.timestamp, settings, nowMs);
  }
  if (tokenConfigured && request.token !== undefined) {
    return constantTimeEqual(request.token, settings.callbackToken!) ? { ok: true, method: 'token' } : { ok: false, failure: AuthFailure.InvalidToken };
  }
  return { ok: false, failure: AuthFailure.MissingCredentials };
}

function checkIceSignature(signature: string, timestamp: string, settings: AuthSettings, nowMs: number): AuthResult {
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, failure: AuthFailure.InvalidTimestamp };
  // IMS's documentation asks receivers to reject old timestamps, and this check rejects one far in the future too.
  const skewSeconds = Math.abs(nowMs / 1000 - Number(timestamp));
  if (skewSeconds > settings.callbackMaxSkewSeconds) return { ok: false, failure: AuthFailure.StaleTimestamp };

  const provided = signature.trim().toLowerCase();
  let matched = false;
  for (const key of settings.callbackAuthKeys) {
    // Every key is checked, match or not, so the time taken does not tell which key matched.
    matched = constantTimeEqual(provided, iceCallbackSignature(settings.callbackUrl!, timestamp, key)) || matched;
  }
  return matched ? { ok: true, method: 'ice-signature' } : { ok: false, failure: AuthFailure.InvalidSignature };
}

/** Compares two strings in time that depends on neither their contents nor their lengths. */
export function constantTimeEqual(a: string, b: string): boolean {
  const digestA = createHash('sha256').update(a, 'utf8').digest();
  const digestB = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(digestA, digestB);
}
