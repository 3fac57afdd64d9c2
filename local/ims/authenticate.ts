import { timingSafeEqual } from 'node:crypto';
import type { CredentialCheck, CredentialStore } from '../common/credentials';
import { PopError, PopErrorCode } from './pop-errors';
import {
  ACS3_ALGORITHM,
  acs3CanonicalRequest,
  acs3Signature,
  acs3StringToSign,
  parseAcs3Authorization,
  rpcV1Signature,
  rpcV1StringToSign,
  sha256Hex,
  type Parameter,
} from './signing';

/** How far a request's timestamp may be from the server clock, as the POP gateway allows. */
export const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;

export const SignatureScheme = {
  Acs3: 'ACS3-HMAC-SHA256',
  RpcV1: 'HMAC-SHA1',
} as const;
export type SignatureScheme = (typeof SignatureScheme)[keyof typeof SignatureScheme];

/** The parts of an HTTP request that signature checks read. */
export interface SignedRequest {
  method: string;
  /** Path as sent, still percent-encoded. */
  path: string;
  /** Decoded query parameters in the order sent. */
  query: Parameter[];
  /** Decoded `application/x-www-form-urlencoded` body parameters; empty for other bodies. */
  formParameters: Parameter[];
  /** Header values by lower-case name. */
  headers: Record<string, string | undefined>;
  body: Buffer;
}

/** The caller a request was signed by. */
export interface AuthenticatedCaller {
  accessKeyId: string;
  scheme: SignatureScheme;
  /** Signature nonce of the request, for replay checks. */
  nonce: string;
}

export interface AuthenticationContext {
  credentials: Pick<CredentialStore, 'check'>;
  /** Server time in epoch milliseconds. */
  nowMs: number;
}

/**
 * Verifies the request's signature, AccessKey, security token and timestamp, and returns the caller.
 * Throws a `PopError` with the code and status the POP gateway uses for the first check that fails.
 */
export function authenticate(request: SignedRequest, context: AuthenticationContext): AuthenticatedCaller {
  const authorization = request.headers['authorization'];
  if (authorization !== undefined && authorization.startsWith('ACS3-')) {
    return authenticateAcs3(request, authorization, context);
  }
  if (request.query.some(([name]) => name === 'Signature')) {
    return authenticateRpcV1(request, context);
  }
  throw new PopError(
    400,
    PopErrorCode.IncompleteSignature,
    'The request is not signed: it carries neither an ACS3 Authorization header nor a Signature query parameter.',
  );
}

function authenticateAcs3(request: SignedRequest, authorization: string, context: AuthenticationContext): AuthenticatedCaller {
  const parsed = parseAcs3Authorization(authorization);
  if (parsed === undefined) {
    throw new PopError(400, PopErrorCode.IncompleteSignature, `The Authorization header is malformed: ${authorization}`);
  }
  if (parsed.algorithm !== ACS3_ALGORITHM) {
    throw new PopError(400, PopErrorCode.InvalidSignatureMethod, `Signature algorithm ${parsed.algorithm} is not supported; use ${ACS3_ALGORITHM}.`);
  }
  checkSignedHeaderList(request, parsed.signedHeaders);

  const date = requireHeader(request, 'x-acs-date');
  const nonce = requireHeader(request, 'x-acs-signature-nonce');
  const token = request.headers['x-acs-security-token'];
  const tokenAccessKeyId = request.headers['x-acs-accesskey-id'];
  if (tokenAccessKeyId !== undefined && tokenAccessKeyId !== parsed.accessKeyId) {
    throw new PopError(
      400,
      PopErrorCode.InvalidSecurityTokenMismatch,
      `The x-acs-accesskey-id header ${tokenAccessKeyId} differs from the Credential ${parsed.accessKeyId} in the Authorization header.`,
    );
  }

  const secret = checkCredentials(context.credentials.check(parsed.accessKeyId, token, context.nowMs), parsed.accessKeyId);
  checkTimestamp(date, 'x-acs-date', context.nowMs);

  const payloadHash = sha256Hex(request.body);
  const canonicalRequest = acs3CanonicalRequest({
    method: request.method,
    path: request.path,
    query: request.query,
    headers: { ...request.headers, 'x-acs-content-sha256': payloadHash },
    signedHeaders: parsed.signedHeaders,
    payloadHash,
  });
  const stringToSign = acs3StringToSign(canonicalRequest);
  if (!sameText(acs3Signature(stringToSign, secret), parsed.signature)) {
    throw signatureMismatch(stringToSign, payloadHashNote(request.headers['x-acs-content-sha256'], payloadHash));
  }

  return { accessKeyId: parsed.accessKeyId, scheme: SignatureScheme.Acs3, nonce };
}

// The gateway requires every header that can change the meaning of a request to be signed, so a
// request that carries an unsigned x-acs-* header, Host or Content-Type is rejected.
function checkSignedHeaderList(request: SignedRequest, signedHeaders: readonly string[]): void {
  for (const name of signedHeaders) {
    if (name !== name.toLowerCase() || request.headers[name] === undefined) {
      throw new PopError(400, PopErrorCode.IncompleteSignature, `Signed header "${name}" is not a lower-case header of this request.`);
    }
  }
  for (const name of Object.keys(request.headers)) {
    const mustBeSigned = name === 'host' || name === 'content-type' || name.startsWith('x-acs-');
    if (mustBeSigned && !signedHeaders.includes(name)) {
      throw new PopError(400, PopErrorCode.IncompleteSignature, `Header "${name}" must be listed in SignedHeaders.`);
    }
  }
  requireHeader(request, 'x-acs-content-sha256');
}

function payloadHashNote(sent: string | undefined, computed: string): string {
  if (sent === computed) return '';
  return ` The x-acs-content-sha256 header is ${sent ?? '(missing)'}, but the body hashes to ${computed}.`;
}

function authenticateRpcV1(request: SignedRequest, context: AuthenticationContext): AuthenticatedCaller {
  const query = new Map(request.query);
  const accessKeyId = requireParameter(query, 'AccessKeyId');
  const signature = requireParameter(query, 'Signature');
  const method = requireParameter(query, 'SignatureMethod');
  const version = requireParameter(query, 'SignatureVersion');
  const nonce = requireParameter(query, 'SignatureNonce');
  const timestamp = requireParameter(query, 'Timestamp');
  if (method !== 'HMAC-SHA1' || version !== '1.0') {
    throw new PopError(400, PopErrorCode.InvalidSignatureMethod, `SignatureMethod ${method} with SignatureVersion ${version} is not supported; use HMAC-SHA1 and 1.0.`);
  }

  const secret = checkCredentials(context.credentials.check(accessKeyId, query.get('SecurityToken'), context.nowMs), accessKeyId);
  checkTimestamp(timestamp, 'Timestamp', context.nowMs);

  const stringToSign = rpcV1StringToSign(request.method, [...request.query, ...request.formParameters]);
  if (!sameText(rpcV1Signature(stringToSign, secret), signature)) {
    throw signatureMismatch(stringToSign, '');
  }

  return { accessKeyId, scheme: SignatureScheme.RpcV1, nonce };
}

// NOTE: the statuses of the security-token errors are not documented; 400 follows the other
// parameter-level POP errors. Clients should key on the code.
function checkCredentials(check: CredentialCheck, accessKeyId: string): string {
  if (check.ok) return check.record.accessKeySecret;

  switch (check.reason) {
    case 'unknown-access-key':
      throw new PopError(404, PopErrorCode.InvalidAccessKeyIdNotFound, `Specified access key is not found: ${accessKeyId}.`);
    case 'missing-token':
      throw new PopError(400, PopErrorCode.MissingSecurityToken, `AccessKey ${accessKeyId} is temporary, so the request must carry its security token.`);
    case 'invalid-token':
      throw new PopError(400, PopErrorCode.InvalidSecurityTokenMismatch, `The security token does not belong to AccessKey ${accessKeyId}.`);
    case 'expired-token':
      throw new PopError(400, PopErrorCode.InvalidSecurityTokenExpired, `Specified SecurityToken is expired (AccessKey ${accessKeyId}); request new STS credentials.`);
  }
}

const TIMESTAMP_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

function checkTimestamp(value: string, name: string, nowMs: number): void {
  const timeMs = TIMESTAMP_PATTERN.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(timeMs)) {
    throw new PopError(400, PopErrorCode.InvalidTimeStampFormat, `${name} ${value} is not in the UTC form yyyy-MM-ddTHH:mm:ssZ.`);
  }
  if (Math.abs(nowMs - timeMs) > MAX_CLOCK_SKEW_MS) {
    const server = new Date(nowMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
    throw new PopError(
      400,
      PopErrorCode.InvalidTimeStampExpired,
      `Specified time stamp or date value is expired: ${name} ${value} is more than 15 minutes from the server time ${server}.`,
    );
  }
}

function signatureMismatch(stringToSign: string, note: string): PopError {
  // The real gateway puts its string to sign in the message so that callers can compare it with theirs.
  return new PopError(
    400,
    PopErrorCode.SignatureDoesNotMatch,
    `Specified signature does not match our calculation.${note} Server string to sign is:${stringToSign}`,
  );
}

function requireHeader(request: SignedRequest, name: string): string {
  const value = request.headers[name];
  if (value === undefined || value === '') {
    throw new PopError(400, PopErrorCode.IncompleteSignature, `Header "${name}" is required for ACS3 signatures.`);
  }
  return value;
}

function requireParameter(query: Map<string, string>, name: string): string {
  const value = query.get(name);
  if (value === undefined || value === '') {
    throw new PopError(400, PopErrorCode.MissingParameter, `Query parameter "${name}" is required for signed RPC requests.`);
  }
  return value;
}

function sameText(expected: string, actual: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(actual);
  return a.length === b.length && timingSafeEqual(a, b);
}
