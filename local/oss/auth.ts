import type { IncomingHttpHeaders } from 'node:http';
import type { CredentialStore } from '../common/credentials';
import { byteStringToUtf8, hexBytes } from './encoding';
import { MAX_CLOCK_SKEW_MS, ossErrors } from './errors';
import { headerText, v1Signature, v1StringToSign, type SignableRequest } from './sign-v1';
import {
  isValidScope,
  parseV4Authorization,
  parseV4Credential,
  parseV4Datetime,
  splitAdditionalHeaders,
  v4CanonicalRequest,
  v4Scope,
  v4Signature,
  v4StringToSign,
  type V4Authorization,
  V4_ALGORITHM,
} from './sign-v4';
import { hasQuery, queryValue, type RequestTarget } from './target';

/** A request as the authenticator needs it. */
export interface AuthRequest {
  method: string;
  headers: IncomingHttpHeaders;
  target: RequestTarget;
}

/** Maximum validity of a V4 presigned URL: 7 days. */
const MAX_V4_URL_EXPIRES_SECONDS = 7 * 24 * 3600;

/**
 * Checks the signature of a request the way OSS does and returns the AccessKey ID that signed it.
 * Throws an OssServiceError with OSS's code: AccessDenied (anonymous or expired URL), InvalidAccessKeyId,
 * SecurityTokenExpired, InvalidSecurityToken, RequestTimeTooSkewed, SignatureDoesNotMatch or InvalidArgument.
 */
export function authenticate(request: AuthRequest, credentials: CredentialStore, nowMs: number): string {
  const authorization = headerText(request.headers, 'authorization');
  if (authorization.startsWith(`${V4_ALGORITHM} `)) return checkV4Header(request, authorization, credentials, nowMs);
  if (authorization.startsWith('OSS ')) return checkV1Header(request, authorization, credentials, nowMs);
  if (authorization !== '') throw ossErrors.invalidArgument('Authorization header is invalid.', { Authorization: authorization });

  if (hasQuery(request.target, 'x-oss-signature')) return checkV4Query(request, credentials, nowMs);
  if (hasQuery(request.target, 'Signature')) return checkV1Query(request, credentials, nowMs);
  throw ossErrors.accessDenied('You have no right to access this object because of bucket acl.');
}

function checkV1Header(request: AuthRequest, authorization: string, credentials: CredentialStore, nowMs: number): string {
  const value = authorization.slice('OSS '.length);
  const colon = value.lastIndexOf(':');
  if (colon <= 0) throw ossErrors.invalidArgument('Authorization header is invalid.', { Authorization: authorization });
  const accessKeyId = value.slice(0, colon);
  const signature = value.slice(colon + 1);

  // OSS uses x-oss-date instead of Date when both are present, in the clock check and in the string to sign.
  const date = headerText(request.headers, 'x-oss-date') || headerText(request.headers, 'date');
  checkClockSkew(date, Date.parse(date), nowMs);
  checkCredentials(credentials, accessKeyId, headerText(request.headers, 'x-oss-security-token') || undefined, nowMs);

  const stringToSign = v1StringToSign(request, date);
  const expected = v1Signature(secretOf(credentials, accessKeyId), stringToSign);
  if (signature !== expected) throw signatureMismatch(accessKeyId, signature, stringToSign);
  return accessKeyId;
}

function checkV1Query(request: AuthRequest, credentials: CredentialStore, nowMs: number): string {
  const accessKeyId = queryValue(request.target, 'OSSAccessKeyId') ?? '';
  const expires = queryValue(request.target, 'Expires') ?? '';
  const signature = queryValue(request.target, 'Signature') ?? '';
  if (accessKeyId === '' || !/^\d+$/.test(expires)) {
    throw ossErrors.accessDenied('The query string of a presigned URL needs OSSAccessKeyId, Expires and Signature.');
  }

  const expiresAtMs = Number(expires) * 1000;
  if (nowMs > expiresAtMs) throw ossErrors.requestExpired(new Date(expiresAtMs), new Date(nowMs));
  checkCredentials(credentials, accessKeyId, queryValue(request.target, 'security-token') || undefined, nowMs);

  const stringToSign = v1StringToSign(request, expires);
  const expected = v1Signature(secretOf(credentials, accessKeyId), stringToSign);
  if (signature !== expected) throw signatureMismatch(accessKeyId, signature, stringToSign);
  return accessKeyId;
}

function checkV4Header(request: AuthRequest, authorization: string, credentials: CredentialStore, nowMs: number): string {
  const parsed = parseV4Authorization(authorization);
  if (parsed === undefined) throw ossErrors.invalidArgument('Authorization header is invalid.', { Authorization: authorization });

  const datetime = headerText(request.headers, 'x-oss-date');
  const signedAt = parseV4Datetime(datetime);
  checkClockSkew(datetime, signedAt?.getTime() ?? Number.NaN, nowMs);
  checkScope(request.target, parsed, datetime);
  checkCredentials(credentials, parsed.accessKeyId, headerText(request.headers, 'x-oss-security-token') || undefined, nowMs);

  return checkV4Signature(request, parsed, datetime, credentials, []);
}

function checkV4Query(request: AuthRequest, credentials: CredentialStore, nowMs: number): string {
  const version = queryValue(request.target, 'x-oss-signature-version');
  const credential = parseV4Credential(queryValue(request.target, 'x-oss-credential') ?? '');
  const datetime = queryValue(request.target, 'x-oss-date') ?? '';
  const expires = queryValue(request.target, 'x-oss-expires') ?? '';
  const signedAt = parseV4Datetime(datetime);
  if (version !== V4_ALGORITHM || credential === undefined || signedAt === undefined || !/^\d+$/.test(expires)) {
    throw ossErrors.invalidArgument(
      'A V4 presigned URL needs x-oss-signature-version=OSS4-HMAC-SHA256, x-oss-credential, x-oss-date, x-oss-expires and x-oss-signature.',
    );
  }
  if (Number(expires) > MAX_V4_URL_EXPIRES_SECONDS) {
    throw ossErrors.invalidArgument(`x-oss-expires must be at most ${MAX_V4_URL_EXPIRES_SECONDS} seconds.`, { Expires: expires });
  }

  const expiresAtMs = signedAt.getTime() + Number(expires) * 1000;
  if (nowMs > expiresAtMs) throw ossErrors.requestExpired(new Date(expiresAtMs), new Date(nowMs));

  const parsed: V4Authorization = {
    ...credential,
    additionalHeaders: splitAdditionalHeaders(queryValue(request.target, 'x-oss-additional-headers')),
    signature: queryValue(request.target, 'x-oss-signature') ?? '',
  };
  checkScope(request.target, parsed, datetime);
  checkCredentials(credentials, parsed.accessKeyId, queryValue(request.target, 'x-oss-security-token') || undefined, nowMs);

  return checkV4Signature(request, parsed, datetime, credentials, ['x-oss-signature']);
}

function checkV4Signature(
  request: SignableRequest,
  parsed: V4Authorization,
  datetime: string,
  credentials: CredentialStore,
  excludedQuery: string[],
): string {
  const canonicalRequest = v4CanonicalRequest(request, parsed.additionalHeaders, excludedQuery);
  const stringToSign = v4StringToSign(datetime, v4Scope(parsed.day, parsed.region), canonicalRequest);
  const expected = v4Signature(secretOf(credentials, parsed.accessKeyId), parsed.day, parsed.region, stringToSign);
  if (parsed.signature !== expected) {
    // OSS documents only StringToSign in the mismatch body. CanonicalRequest is added as S3 does, to ease debugging.
    throw signatureMismatch(parsed.accessKeyId, parsed.signature, stringToSign, {
      CanonicalRequest: byteStringToUtf8(canonicalRequest),
      CanonicalRequestBytes: hexBytes(canonicalRequest),
    });
  }
  return parsed.accessKeyId;
}

/** Rejects a signing day that differs from the request time, an unknown scope, or a region other than the Host's. */
function checkScope(target: RequestTarget, parsed: V4Authorization, datetime: string): void {
  if (!isValidScope(parsed)) {
    throw ossErrors.invalidArgument('Invalid credential scope in the V4 signature: expected <day>/<region>/oss/aliyun_v4_request.');
  }
  if (parsed.day !== datetime.slice(0, 8)) {
    throw ossErrors.invalidArgument(`Invalid signing date in the V4 signature: ${parsed.day} is not the day of x-oss-date ${datetime}.`);
  }
  if (target.hostRegion !== undefined && parsed.region !== target.hostRegion) {
    throw ossErrors.invalidArgument(
      `Invalid signing region in the V4 signature: signed for ${parsed.region}, but Host names ${target.hostRegion}.`,
    );
  }
}

function checkClockSkew(requestTime: string, requestTimeMs: number, nowMs: number): void {
  if (requestTime === '' || Number.isNaN(requestTimeMs)) {
    throw ossErrors.accessDenied('OSS authentication requires a valid Date.', { RequestTime: requestTime });
  }
  if (Math.abs(nowMs - requestTimeMs) > MAX_CLOCK_SKEW_MS) throw ossErrors.requestTimeTooSkewed(requestTime, new Date(nowMs));
}

function checkCredentials(credentials: CredentialStore, accessKeyId: string, securityToken: string | undefined, nowMs: number): void {
  const result = credentials.check(accessKeyId, securityToken, nowMs);
  if (result.ok) return;

  switch (result.reason) {
    case 'expired-token':
      throw ossErrors.securityTokenExpired();
    case 'invalid-token':
      // A token sent with a long-lived key makes OSS look the key up among STS keys, where it is unknown.
      if (credentials.check(accessKeyId, undefined, nowMs).ok) throw ossErrors.invalidAccessKeyId(accessKeyId);
      throw ossErrors.invalidSecurityToken();
    case 'missing-token':
    case 'unknown-access-key':
      throw ossErrors.invalidAccessKeyId(accessKeyId);
  }
}

function secretOf(credentials: CredentialStore, accessKeyId: string): string {
  const secret = credentials.secretOf(accessKeyId);
  if (secret === undefined) throw ossErrors.invalidAccessKeyId(accessKeyId);
  return secret;
}

function signatureMismatch(
  accessKeyId: string,
  signatureProvided: string,
  stringToSign: string,
  extra: Record<string, string> = {},
) {
  return ossErrors.signatureDoesNotMatch({
    OSSAccessKeyId: accessKeyId,
    SignatureProvided: signatureProvided,
    StringToSign: byteStringToUtf8(stringToSign),
    StringToSignBytes: hexBytes(stringToSign),
    ...extra,
  });
}
