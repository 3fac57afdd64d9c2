/** Authentication of one request to the emulated FC API, in the order the checks are reported. */
import type { IncomingHttpHeaders } from 'node:http';
import type { CredentialStore } from '../common/credentials';
import { FcErrorCode, fcError, type FcApiError } from './errors';
import { composeStringToSign, parseAuthorization, signStringToSign, signaturesEqual } from './signature';

/** Largest accepted difference between the request's `Date` header and the emulator's clock. */
export const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;

export interface AuthInput {
  method: string;
  /** Path as received, still percent-encoded, with the API version prefix. */
  path: string;
  headers: IncomingHttpHeaders;
  /** Query parameters that are part of the signature; undefined for invocation paths. */
  signedQuery?: URLSearchParams;
  accountId: string;
  credentials: CredentialStore;
  nowMs: number;
}

export type AuthResult = { ok: true; accessKeyId: string } | { ok: false; error: FcApiError };

/** Checks the Date, Authorization and x-fc-security-token headers, the signature, and the account named. */
export function authenticate(input: AuthInput): AuthResult {
  const authorization = firstValue(input.headers.authorization);
  const date = firstValue(input.headers.date);
  if (authorization === undefined) return missingHeader('Authorization');
  if (date === undefined) return missingHeader('Date');

  const parsed = parseAuthorization(authorization);
  if (parsed === undefined) {
    return reject(400, FcErrorCode.InvalidArgument, 'Authorization header is not in the form "FC <AccessKeyId>:<signature>"');
  }

  const skewError = checkDate(date, input.nowMs);
  if (skewError !== undefined) return { ok: false, error: skewError };

  const securityToken = firstValue(input.headers['x-fc-security-token']);
  const check = input.credentials.check(parsed.accessKeyId, securityToken, input.nowMs);
  if (!check.ok) return { ok: false, error: credentialError(check.reason, parsed.accessKeyId) };

  const expected = signStringToSign(
    composeStringToSign({ method: input.method, path: input.path, headers: input.headers, query: input.signedQuery }),
    check.record.accessKeySecret,
  );
  if (!signaturesEqual(expected, parsed.signature)) {
    return reject(
      403,
      FcErrorCode.SignatureNotMatch,
      'the signature does not match the one computed from the request: check the AccessKey secret and which headers were signed',
    );
  }

  // NOTE: fc2 always sends x-fc-account-id, but whether FC compares it with the host's account is a guess.
  // The emulator compares them, so that a dispatcher configured with the wrong account fails here too.
  const accountHeader = firstValue(input.headers['x-fc-account-id']);
  if (accountHeader !== undefined && accountHeader !== input.accountId) {
    return reject(403, FcErrorCode.AccessDenied, `account '${accountHeader}' in x-fc-account-id is not this endpoint's account`);
  }

  return { ok: true, accessKeyId: parsed.accessKeyId };
}

function checkDate(date: string, nowMs: number): FcApiError | undefined {
  const dateMs = Date.parse(date);
  if (Number.isNaN(dateMs)) return fcError(400, FcErrorCode.InvalidArgument, `Date header '${date}' is not an HTTP date`);
  if (Math.abs(nowMs - dateMs) > MAX_CLOCK_SKEW_MS) {
    return fcError(
      403,
      FcErrorCode.RequestTimeTooSkewed,
      `Date header '${date}' differs from the server time by more than 15 minutes: sync the client clock`,
    );
  }
  return undefined;
}

function credentialError(
  reason: 'unknown-access-key' | 'missing-token' | 'invalid-token' | 'expired-token',
  accessKeyId: string,
): FcApiError {
  const invalidToken = (message: string) => fcError(403, FcErrorCode.InvalidSecurityToken, message);
  switch (reason) {
    case 'unknown-access-key':
      return fcError(403, FcErrorCode.InvalidAccessKeyID, `AccessKey ID '${accessKeyId}' does not exist`);
    case 'missing-token':
      return invalidToken(`x-fc-security-token is missing for temporary AccessKey ID '${accessKeyId}'`);
    case 'invalid-token':
      return invalidToken(`x-fc-security-token is not valid for AccessKey ID '${accessKeyId}'`);
    case 'expired-token':
      return invalidToken(`the security token of AccessKey ID '${accessKeyId}' has expired`);
  }
}

function missingHeader(name: string): AuthResult {
  return reject(400, FcErrorCode.MissingRequiredHeader, `required header ${name} is missing`);
}

function reject(status: number, code: string, message: string): AuthResult {
  return { ok: false, error: fcError(status, code, message) };
}

function firstValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
