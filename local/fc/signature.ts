/**
 * FC's `Authorization: FC <AccessKeyId>:<signature>` scheme, written from the service's side so that the
 * emulator can check what `@alicloud/fc2` sends. The signature is base64 of HMAC-SHA256 over:
 *
 * ```
 * METHOD \n Content-MD5 \n Content-Type \n Date \n <x-fc-* headers, lower-cased and sorted, each "name:value\n"> path
 * ```
 *
 * followed by `\n` and the sorted `key=value` query pairs when queries are signed, which fc2 2.6.6 does
 * only for paths under `/proxy/`.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** Header values in the shape of Node's `IncomingMessage.headers`. */
export type HeaderValues = Record<string, string | string[] | number | undefined>;

export interface SignedRequest {
  method: string;
  /** Path as sent, including the API version prefix, such as `/2023-03-30/functions/worker/invocations`. */
  path: string;
  headers: HeaderValues;
  /** Query parameters to sign; leave undefined when the path's queries are not signed. */
  query?: URLSearchParams;
}

/** Builds the string that FC signs for a request. */
export function composeStringToSign(request: SignedRequest): string {
  const headers = lowerCaseKeys(request.headers);
  const lines = [
    request.method.toUpperCase(),
    headerText(headers['content-md5']),
    headerText(headers['content-type']),
    headerText(headers['date']),
  ];
  let text = `${lines.join('\n')}\n${canonicalFcHeaders(headers)}${request.path}`;

  if (request.query !== undefined) {
    const pairs = [...request.query].map(([key, value]) => `${key}=${value}`).sort();
    text += `\n${pairs.join('\n')}`;
  }
  return text;
}

/** Computes the base64 HMAC-SHA256 signature of `stringToSign`. */
export function signStringToSign(stringToSign: string, accessKeySecret: string): string {
  return createHmac('sha256', accessKeySecret).update(stringToSign, 'utf8').digest('base64');
}

/** Computes the full `Authorization` header value for a request. */
export function computeAuthorization(request: SignedRequest, accessKeyId: string, accessKeySecret: string): string {
  return `FC ${accessKeyId}:${signStringToSign(composeStringToSign(request), accessKeySecret)}`;
}

/** Splits `FC <AccessKeyId>:<signature>`; returns undefined when the header has another form. */
export function parseAuthorization(header: string): { accessKeyId: string; signature: string } | undefined {
  const match = /^FC ([^:\s]+):(\S+)$/.exec(header.trim());
  if (match === null) return undefined;
  return { accessKeyId: match[1]!, signature: match[2]! };
}

/** Compares two signatures in constant time. */
export function signaturesEqual(expected: string, provided: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(provided, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Checks a `Content-MD5` header against the body. fc2 2.6.6 sends base64 of the hex digest string
 * rather than of the raw digest; RFC 1864 clients send the latter, so both forms are accepted.
 */
export function contentMd5Matches(header: string, body: Buffer): boolean {
  const digest = createHash('md5').update(body).digest();
  const forms = [Buffer.from(digest.toString('hex'), 'utf8').toString('base64'), digest.toString('base64')];
  return forms.includes(header.trim());
}

function lowerCaseKeys(headers: HeaderValues): Record<string, string | string[] | number | undefined> {
  const lowered: Record<string, string | string[] | number | undefined> = {};
  for (const [name, value] of Object.entries(headers)) lowered[name.toLowerCase().trim()] = value;
  return lowered;
}

function canonicalFcHeaders(headers: HeaderValues): string {
  const names = Object.keys(headers)
    .filter((name) => name.startsWith('x-fc-'))
    .sort();
  return names.map((name) => `${name}:${headerText(headers[name])}\n`).join('');
}

// Node joins repeated headers (other than set-cookie) with ", " before they reach the emulator.
function headerText(value: string | string[] | number | undefined): string {
  if (value === undefined) return '';
  return Array.isArray(value) ? value.join(', ') : String(value);
}
