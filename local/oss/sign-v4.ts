import { createHash, createHmac } from 'node:crypto';
import { encodeRfc3986 } from './encoding';
import { headerText, trimBytes, type SignableRequest } from './sign-v1';

export const V4_ALGORITHM = 'OSS4-HMAC-SHA256';
const SCOPE_TERMINATOR = 'aliyun_v4_request';
const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

/** The fields of a V4 `Authorization` header or of the equivalent presigned-URL query parameters. */
export interface V4Authorization {
  accessKeyId: string;
  /** Signing day, `yyyymmdd`. */
  day: string;
  /** Region as signed, such as `cn-shanghai`. */
  region: string;
  product: string;
  terminator: string;
  /** Lower-case names of the extra headers the client chose to sign. */
  additionalHeaders: string[];
  signature: string;
}

/**
 * Parses `OSS4-HMAC-SHA256 Credential=<ak>/<day>/<region>/oss/aliyun_v4_request[,AdditionalHeaders=a;b],Signature=<hex>`.
 * Returns undefined when the value does not have that form.
 */
export function parseV4Authorization(value: string): V4Authorization | undefined {
  if (!value.startsWith(`${V4_ALGORITHM} `)) return undefined;

  const fields = new Map<string, string>();
  for (const field of value.slice(V4_ALGORITHM.length + 1).split(',')) {
    const equals = field.indexOf('=');
    if (equals === -1) return undefined;
    fields.set(field.slice(0, equals).trim(), field.slice(equals + 1).trim());
  }

  const credential = parseV4Credential(fields.get('Credential') ?? '');
  const signature = fields.get('Signature');
  if (credential === undefined || !signature) return undefined;
  return { ...credential, additionalHeaders: splitAdditionalHeaders(fields.get('AdditionalHeaders')), signature };
}

/** Parses `<ak>/<day>/<region>/<product>/<terminator>`. The AccessKey ID is everything before the last four parts. */
export function parseV4Credential(credential: string): Omit<V4Authorization, 'additionalHeaders' | 'signature'> | undefined {
  const parts = credential.split('/');
  if (parts.length < 5) return undefined;

  const [day, region, product, terminator] = parts.slice(-4) as [string, string, string, string];
  const accessKeyId = parts.slice(0, -4).join('/');
  if (accessKeyId === '') return undefined;
  return { accessKeyId, day, region, product, terminator };
}

export function splitAdditionalHeaders(value: string | undefined): string[] {
  if (value === undefined || value === '') return [];
  return value.split(';').map((name) => name.trim().toLowerCase());
}

export function isValidScope(authorization: Pick<V4Authorization, 'product' | 'terminator'>): boolean {
  return authorization.product === 'oss' && authorization.terminator === SCOPE_TERMINATOR;
}

/**
 * Builds the V4 canonical request as a byte string: method, canonical URI, canonical query, canonical headers,
 * additional-header list and payload hash, joined by newlines.
 *
 * Every query parameter is signed except those in `excludedQuery` (the signature of a presigned URL). A
 * parameter with an empty value is written as its bare name, as the OSS Java SDK v2 signer does.
 * NOTE: ali-oss 6.23 signs an empty query value as `name=` (for example `prefix: ''` in listV2), so such a request
 * fails here with SignatureDoesNotMatch. Which form the real server expects for that case is unconfirmed.
 */
export function v4CanonicalRequest(
  request: SignableRequest,
  additionalHeaders: readonly string[],
  excludedQuery: readonly string[] = [],
): string {
  return [
    request.method.toUpperCase(),
    canonicalUri(request.target),
    canonicalQuery(request.target, excludedQuery),
    canonicalHeaders(request, additionalHeaders),
    additionalHeaders.join(';'),
    headerText(request.headers, 'x-oss-content-sha256') || UNSIGNED_PAYLOAD,
  ].join('\n');
}

export function v4Scope(day: string, region: string): string {
  return `${day}/${region}/oss/${SCOPE_TERMINATOR}`;
}

export function v4StringToSign(datetime: string, scope: string, canonicalRequest: string): string {
  const hash = createHash('sha256').update(Buffer.from(canonicalRequest, 'latin1')).digest('hex');
  return [V4_ALGORITHM, datetime, scope, hash].join('\n');
}

/** Returns the hex signature: HMAC-SHA256 of the string to sign under a key derived from day, region and product. */
export function v4Signature(accessKeySecret: string, day: string, region: string, stringToSign: string): string {
  let key: Buffer = createHmac('sha256', `aliyun_v4${accessKeySecret}`).update(day).digest();
  key = createHmac('sha256', key).update(region).digest();
  key = createHmac('sha256', key).update('oss').digest();
  key = createHmac('sha256', key).update(SCOPE_TERMINATOR).digest();
  return createHmac('sha256', key).update(Buffer.from(stringToSign, 'latin1')).digest('hex');
}

function canonicalUri(target: SignableRequest['target']): string {
  if (target.bucket === undefined) return '/';
  const path = Buffer.concat([Buffer.from(`/${target.bucket}/`, 'utf8'), target.keyBytes]);
  return encodeRfc3986(path, true);
}

function canonicalQuery(target: SignableRequest['target'], excludedQuery: readonly string[]): string {
  return target.query
    .filter((param) => !excludedQuery.includes(param.name))
    .map((param) => ({
      name: encodeRfc3986(param.nameBytes),
      value: param.valueBytes === undefined ? '' : encodeRfc3986(param.valueBytes),
    }))
    .sort((a, b) => compareText(a.name, b.name) || compareText(a.value, b.value))
    .map(({ name, value }) => (value === '' ? name : `${name}=${value}`))
    .join('&');
}

/** `content-type`, `content-md5`, every `x-oss-*` header and the additional headers, as `name:value\n`, sorted. */
function canonicalHeaders(request: SignableRequest, additionalHeaders: readonly string[]): string {
  const names = new Set(additionalHeaders);
  for (const name of Object.keys(request.headers)) {
    if (name === 'content-type' || name === 'content-md5' || name.startsWith('x-oss-')) names.add(name);
  }
  return [...names]
    .sort()
    .map((name) => `${name}:${trimBytes(headerText(request.headers, name))}\n`)
    .join('');
}

function compareText(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

/** Parses the V4 timestamp form `yyyymmddTHHMMSSZ`, or returns undefined when it is malformed. */
export function parseV4Datetime(value: string): Date | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (match === null) return undefined;
  const [, year, month, day, hour, minute, second] = match.map(Number) as number[];
  const date = new Date(Date.UTC(year!, month! - 1, day!, hour!, minute!, second!));
  return Number.isNaN(date.getTime()) ? undefined : date;
}
