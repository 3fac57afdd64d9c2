import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { ossErrors } from '../errors';
import { receiveBody, type ReceivedBody } from '../ingest';
import type { OssReply } from '../reply';
import { headerText } from '../sign-v1';
import type { BucketState, ObjectRecord, OssStore } from '../store';
import type { RequestTarget } from '../target';

/** Everything a handler needs about one authenticated request to an existing bucket. */
export interface OperationContext {
  request: IncomingMessage;
  target: RequestTarget;
  bucket: BucketState;
  store: OssStore;
  /** The AccessKey ID that signed the request. */
  accessKeyId: string;
  /** Cut the connection after this many request-body bytes, for a drop fault. */
  dropAfterBytes: number | undefined;
}

export type OperationHandler = (context: OperationContext) => Promise<OssReply>;

/** PutObject and UploadPart limit: 5 GiB. */
export const MAX_SINGLE_UPLOAD_BYTES = 5 * 1024 ** 3;

/** Streams the request body into storage with `receiveBody`, after checking Content-Length against `maxBytes`. */
export function receiveRequestBody(context: OperationContext, maxBytes: number): Promise<ReceivedBody> {
  const { request } = context;
  const declared = headerText(request.headers, 'content-length');
  if (declared !== '' && Number(declared) > maxBytes) throw ossErrors.entityTooLarge(maxBytes);

  return receiveBody(request, context.store.bodies, {
    maxBytes,
    dropAfterBytes: context.dropAfterBytes,
    dropConnection: () => request.socket.destroy(),
    isComplete: () => request.complete,
  });
}

/** Reads a whole small request body, such as the XML of CompleteMultipartUpload. */
export async function readSmallBody(context: OperationContext, maxBytes = 4 * 1024 * 1024): Promise<Buffer> {
  const received = await receiveRequestBody(context, maxBytes);
  const chunks: Buffer[] = [];
  for await (const chunk of context.store.bodies.read(received.body)) chunks.push(chunk);
  await context.store.bodies.release(received.body);
  return Buffer.concat(chunks);
}

/** Rejects a key that OSS would reject: empty, longer than 1023 bytes, or starting with `/` or `\`. */
export function validateObjectKey(target: RequestTarget): void {
  if (target.keyBytes.length === 0) throw ossErrors.invalidObjectName('The Object name can not be empty.');
  if (target.keyBytes.length > 1023) throw ossErrors.invalidObjectName('The Length of Object name must be less than 1024.');
  if (target.key.startsWith('/') || target.key.startsWith('\\')) {
    throw ossErrors.invalidObjectName('The specified object is not valid: it must not start with / or \\.');
  }
}

/** Reads `x-oss-forbid-overwrite`, whose only valid values are `true` and `false`. */
export function forbidOverwriteOf(headers: IncomingHttpHeaders): boolean {
  const value = headerText(headers, 'x-oss-forbid-overwrite').toLowerCase();
  if (value === '' || value === 'false') return false;
  if (value === 'true') return true;
  throw ossErrors.invalidArgument('x-oss-forbid-overwrite must be true or false.', { ArgumentValue: value });
}

/** Fails with InvalidDigest when the request carries a Content-MD5 that differs from the received bytes. */
export function checkContentMd5(headers: IncomingHttpHeaders, md5: Buffer): void {
  const declared = headerText(headers, 'content-md5');
  if (declared !== '' && declared !== md5.toString('base64')) throw ossErrors.invalidDigest(declared);
}

/** Returns the `x-oss-meta-*` headers by lower-case name without the prefix. */
export function metaFromHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const meta: Record<string, string> = {};
  for (const name of Object.keys(headers)) {
    if (name.startsWith('x-oss-meta-')) meta[name.slice('x-oss-meta-'.length)] = headerText(headers, name);
  }
  return meta;
}

export function contentTypeOf(headers: IncomingHttpHeaders): string {
  // OSS may guess a missing Content-Type from the key's extension. The emulator always uses the default.
  return headerText(headers, 'content-type') || 'application/octet-stream';
}

export function quoted(etag: string): string {
  return `"${etag}"`;
}

/** Response headers that describe a stored object, as GetObject and HeadObject send them. */
export function objectHeaders(record: ObjectRecord): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': record.contentType,
    etag: quoted(record.etag),
    'last-modified': record.lastModified.toUTCString(),
    'x-oss-hash-crc64ecma': record.crc64,
    'x-oss-object-type': record.type,
    'x-oss-storage-class': 'Standard',
    'accept-ranges': 'bytes',
  };
  if (record.contentMd5 !== undefined) headers['content-md5'] = record.contentMd5;
  for (const [name, value] of Object.entries(record.meta)) headers[`x-oss-meta-${name}`] = value;
  return headers;
}

/** Fails with AccessDenied when `accessKeyId` was denied read access to the bucket. */
export function requireReadAccess(bucket: BucketState, accessKeyId: string): void {
  if (bucket.deniedReaders.has(accessKeyId)) {
    throw ossErrors.accessDenied('You have no right to access this object because of bucket acl.', {
      BucketName: bucket.name,
      OSSAccessKeyId: accessKeyId,
    });
  }
}

/** Returns the object at the request's key, or throws NoSuchKey. */
export function requireObject(bucket: BucketState, key: string): ObjectRecord {
  const record = bucket.objects.get(key);
  if (record === undefined) throw ossErrors.noSuchKey(key);
  return record;
}
