import { createHmac } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { toByteString, utf8ByteString } from './encoding';
import type { RequestTarget } from './target';

/**
 * Query parameters that V1 signatures cover as sub-resources. The others (prefix, max-keys, list-type, ...)
 * are not signed. This is the union of what ali-oss 6.23 signs and the sub-resource list of the OSS Java SDK
 * v2 signer, which mirrors the server's list.
 */
export const V1_SUBRESOURCES: ReadonlySet<string> = new Set([
  'acl', 'append', 'asyncFetch', 'bucketInfo', 'callback', 'callback-var', 'cleanRestoredObject', 'cloudboxes',
  'comp', 'continuation-token', 'cors', 'delete', 'endTime', 'img', 'inventory', 'lifecycle', 'live', 'location',
  'logging', 'objectMeta', 'partNumber', 'policy', 'position', 'qos', 'referer', 'regionList', 'replication',
  'replicationLocation', 'replicationProgress', 'requestPayment', 'resourceGroup', 'response-cache-control',
  'response-content-disposition', 'response-content-encoding', 'response-content-language',
  'response-content-type', 'response-expires', 'restore', 'security-token', 'sequential', 'startTime', 'stat',
  'status', 'style', 'styleName', 'symlink', 'tagging', 'uploadId', 'uploads', 'versionId', 'versioning',
  'versions', 'vod', 'website', 'worm', 'wormExtend', 'wormId', 'x-oss-process', 'x-oss-traffic-limit',
]);

/** The parts of a request that a signature covers. Header names are lower case, values as Node decoded them. */
export interface SignableRequest {
  method: string;
  headers: IncomingHttpHeaders;
  target: Pick<RequestTarget, 'bucket' | 'keyBytes' | 'query'>;
}

/**
 * Builds the V1 string to sign, as a byte string (see encoding.ts). The date slot contains the `x-oss-date` or
 * `Date` header for header signatures and the `Expires` value for presigned URLs.
 */
export function v1StringToSign(request: SignableRequest, dateOrExpires: string): string {
  return [
    request.method.toUpperCase(),
    headerText(request.headers, 'content-md5'),
    headerText(request.headers, 'content-type'),
    dateOrExpires,
    canonicalizedOssHeaders(request.headers) + canonicalizedResource(request.target),
  ].join('\n');
}

/** Returns the base64 HMAC-SHA1 of a byte-string `stringToSign`. */
export function v1Signature(accessKeySecret: string, stringToSign: string): string {
  return createHmac('sha1', accessKeySecret).update(Buffer.from(stringToSign, 'latin1')).digest('base64');
}

/** Returns every `x-oss-*` header as `name:value\n`, sorted by name, with spaces and tabs around the value removed. */
export function canonicalizedOssHeaders(headers: IncomingHttpHeaders): string {
  return Object.keys(headers)
    .filter((name) => name.startsWith('x-oss-'))
    .sort()
    .map((name) => `${name}:${trimBytes(headerText(headers, name))}\n`)
    .join('');
}

/** `/bucket/key` with the raw key bytes, then the signed sub-resources sorted by name. */
export function canonicalizedResource(target: SignableRequest['target']): string {
  const path = target.bucket === undefined ? '/' : `/${utf8ByteString(target.bucket)}/${toByteString(target.keyBytes)}`;
  const subresources = target.query
    .filter((param) => V1_SUBRESOURCES.has(param.name))
    .map((param) => {
      const value = param.valueBytes === undefined ? '' : toByteString(param.valueBytes);
      return value === '' ? toByteString(param.nameBytes) : `${toByteString(param.nameBytes)}=${value}`;
    })
    .sort();
  return subresources.length === 0 ? path : `${path}?${subresources.join('&')}`;
}

/** Options of a V1 presigned URL. */
export interface PresignV1Options {
  baseUrl: string;
  bucket: string;
  key: string;
  method?: string;
  expiresAtSeconds: number;
  credentials: { accessKeyId: string; accessKeySecret: string; securityToken?: string };
}

/** Returns a path-style V1 presigned URL: `<baseUrl>/<bucket>/<key>?OSSAccessKeyId=..&Expires=..&Signature=..`. */
export function presignV1Url(options: PresignV1Options): string {
  const { credentials } = options;
  const expires = String(options.expiresAtSeconds);
  const token = credentials.securityToken;
  const query = token === undefined ? [] : [queryParam('security-token', token)];
  const request: SignableRequest = {
    method: options.method ?? 'GET',
    headers: {},
    target: { bucket: options.bucket, keyBytes: Buffer.from(options.key, 'utf8'), query },
  };
  const signature = v1Signature(credentials.accessKeySecret, v1StringToSign(request, expires));

  const search = new URLSearchParams({ OSSAccessKeyId: credentials.accessKeyId, Expires: expires, Signature: signature });
  if (token !== undefined) search.set('security-token', token);
  const path = options.key.split('/').map(encodeURIComponent).join('/');
  return `${options.baseUrl}/${encodeURIComponent(options.bucket)}/${path}?${search.toString()}`;
}

function queryParam(name: string, value: string): RequestTarget['query'][number] {
  return { name, value, nameBytes: Buffer.from(name, 'utf8'), valueBytes: Buffer.from(value, 'utf8') };
}

/** Returns a header's value, or '' when it is absent. Repeated headers arrive joined by Node. */
export function headerText(headers: IncomingHttpHeaders, name: string): string {
  const value = headers[name];
  if (value === undefined) return '';
  return Array.isArray(value) ? value.join(',') : value;
}

/**
 * Trims ASCII spaces and tabs only. `String.prototype.trim` would also strip byte 0xA0, which in a byte string
 * may be the tail of a UTF-8 character such as "à".
 */
export function trimBytes(byteString: string): string {
  return byteString.replace(/^[ \t]+|[ \t]+$/g, '');
}
