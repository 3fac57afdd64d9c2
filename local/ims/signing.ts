import { createHash, createHmac } from 'node:crypto';

/**
 * Signature arithmetic of the two schemes that `@alicloud/openapi-client` 0.4.x uses for RPC APIs:
 * ACS3-HMAC-SHA256 (the default, also called the V3 signature) and the legacy HMAC-SHA1 query signature
 * (`signatureAlgorithm: 'v2'` in the client's config, `SignatureVersion=1.0` on the wire).
 * These functions only compute; `authenticate.ts` decides whether a request passes.
 */

export const ACS3_ALGORITHM = 'ACS3-HMAC-SHA256';

/** A decoded query or form parameter. */
export type Parameter = readonly [name: string, value: string];

/**
 * Percent-encodes with the strict rule both schemes share: `encodeURIComponent`, plus `! ' ( ) *`
 * encoded as well, so that only `A-Z a-z 0-9 - _ . ~` stay literal.
 */
export function percentEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Sorts parameters by name and joins them as `name=value` pairs, both sides strictly encoded. */
export function canonicalQueryString(parameters: Iterable<Parameter>): string {
  const sorted = [...parameters].sort(([a], [b]) => compareCodeUnits(a, b));
  return sorted.map(([name, value]) => `${percentEncode(name)}=${percentEncode(value)}`).join('&');
}

export interface Acs3CanonicalRequestInput {
  method: string;
  /** Request path as sent, still percent-encoded; `/` for RPC APIs. */
  path: string;
  /** Decoded query parameters. */
  query: Iterable<Parameter>;
  /** Header values by lower-case name. */
  headers: Record<string, string | undefined>;
  /** Lower-case names of the signed headers. */
  signedHeaders: readonly string[];
  /** Hex SHA-256 of the request body. */
  payloadHash: string;
}

/**
 * Builds the ACS3 canonical request: method, path, canonical query, one `name:value` line per signed header
 * (sorted by name, values trimmed), the signed-header list and the payload hash, joined by line feeds.
 */
export function acs3CanonicalRequest(input: Acs3CanonicalRequestInput): string {
  const names = [...input.signedHeaders].sort();
  const headerLines = names.map((name) => `${name}:${(input.headers[name] ?? '').trim()}\n`).join('');
  return [
    input.method,
    input.path,
    canonicalQueryString(input.query),
    headerLines,
    names.join(';'),
    input.payloadHash,
  ].join('\n');
}

export function acs3StringToSign(canonicalRequest: string): string {
  return `${ACS3_ALGORITHM}\n${sha256Hex(canonicalRequest)}`;
}

/** Hex HMAC-SHA256 of the string to sign, keyed with the AccessKey secret as is. */
export function acs3Signature(stringToSign: string, accessKeySecret: string): string {
  return createHmac('sha256', accessKeySecret).update(stringToSign).digest('hex');
}

export interface Acs3Authorization {
  algorithm: string;
  accessKeyId: string;
  signedHeaders: string[];
  signature: string;
}

/**
 * Parses `<algorithm> Credential=<AccessKey ID>,SignedHeaders=<a;b;c>,Signature=<hex>`.
 * Returns undefined when a part is missing.
 */
export function parseAcs3Authorization(value: string): Acs3Authorization | undefined {
  const space = value.indexOf(' ');
  if (space <= 0) return undefined;

  const algorithm = value.slice(0, space);
  const fields = new Map<string, string>();
  for (const part of value.slice(space + 1).split(',')) {
    const equals = part.indexOf('=');
    if (equals > 0) fields.set(part.slice(0, equals).trim(), part.slice(equals + 1).trim());
  }

  const accessKeyId = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (!accessKeyId || !signedHeaders || !signature) return undefined;
  return { algorithm, accessKeyId, signedHeaders: signedHeaders.split(';'), signature };
}

/**
 * Builds the legacy RPC string to sign: `<METHOD>&%2F&<encoded canonical query>`, where the canonical query
 * covers every query and form parameter except `Signature`.
 */
export function rpcV1StringToSign(method: string, parameters: Iterable<Parameter>): string {
  const signed = [...parameters].filter(([name]) => name !== 'Signature');
  return `${method.toUpperCase()}&${percentEncode('/')}&${percentEncode(canonicalQueryString(signed))}`;
}

/** Base64 HMAC-SHA1 of the string to sign, keyed with the secret followed by `&`. */
export function rpcV1Signature(stringToSign: string, accessKeySecret: string): string {
  return createHmac('sha1', `${accessKeySecret}&`).update(stringToSign).digest('base64');
}

// Orders by UTF-16 code units, as Array.prototype.sort does by default, independent of the locale.
function compareCodeUnits(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}
