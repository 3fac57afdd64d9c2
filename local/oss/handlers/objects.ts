import { ossErrors } from '../errors';
import { percentDecode } from '../encoding';
import { emptyReply, xmlReply } from '../reply';
import { headerText } from '../sign-v1';
import type { BucketState, ObjectRecord } from '../store';
import { queryValue } from '../target';
import { parseDeleteRequest, xmlDocument, type XmlNode } from '../xml';
import {
  MAX_SINGLE_UPLOAD_BYTES,
  checkContentMd5,
  contentTypeOf,
  forbidOverwriteOf,
  metaFromHeaders,
  objectHeaders,
  quoted,
  readSmallBody,
  receiveRequestBody,
  requireObject,
  requireReadAccess,
  validateObjectKey,
  type OperationContext,
  type OperationHandler,
} from './context';

/**
 * CopyObject limit. OSS documents CopyObject for objects up to 1 GB and UploadPartCopy above that.
 * The error code and message OSS returns above the limit are a guess.
 */
const MAX_COPY_OBJECT_BYTES = 1024 ** 3;

export const putObject: OperationHandler = async (context) => {
  const { request, target } = context;
  validateObjectKey(target);
  const forbidOverwrite = forbidOverwriteOf(request.headers);

  const received = await receiveRequestBody(context, MAX_SINGLE_UPLOAD_BYTES);
  try {
    checkContentMd5(request.headers, received.md5);
  } catch (error) {
    await context.store.bodies.release(received.body);
    throw error;
  }

  const record: ObjectRecord = {
    key: target.key,
    body: received.body,
    size: received.size,
    etag: received.md5.toString('hex').toUpperCase(),
    contentMd5: received.md5.toString('base64'),
    crc64: received.crc64,
    contentType: contentTypeOf(request.headers),
    meta: metaFromHeaders(request.headers),
    lastModified: new Date(),
    type: 'Normal',
  };
  await context.store.commitObject(context.bucket, record, forbidOverwrite);

  return emptyReply(200, {
    etag: quoted(record.etag),
    'content-md5': record.contentMd5!,
    'x-oss-hash-crc64ecma': record.crc64,
  });
};

export const getObject: OperationHandler = async (context) => {
  requireReadAccess(context.bucket, context.accessKeyId);
  const record = requireObject(context.bucket, context.target.key);
  const headers = { ...objectHeaders(record), ...responseOverrides(context) };
  const range = parseRange(headerText(context.request.headers, 'range'), record.size, context);
  const bodies = context.store.bodies;

  if (range === undefined) {
    return {
      status: 200,
      headers: { ...headers, 'content-length': String(record.size) },
      body: { size: record.size, chunks: () => bodies.read(record.body) },
    };
  }

  const { start, end } = range;
  const length = end - start + 1;
  delete headers['content-md5'];
  return {
    status: 206,
    headers: { ...headers, 'content-length': String(length), 'content-range': `bytes ${start}-${end}/${record.size}` },
    body: { size: length, chunks: () => bodies.read(record.body, start, end + 1) },
  };
};

export const headObject: OperationHandler = async (context) => {
  requireReadAccess(context.bucket, context.accessKeyId);
  const record = requireObject(context.bucket, context.target.key);
  return emptyReply(200, { ...objectHeaders(record), 'content-length': String(record.size) });
};

/** GetObjectMeta (`?objectMeta`): the basic metadata only, without user metadata. */
export const getObjectMeta: OperationHandler = async (context) => {
  requireReadAccess(context.bucket, context.accessKeyId);
  const record = requireObject(context.bucket, context.target.key);
  return emptyReply(200, {
    etag: quoted(record.etag),
    'x-oss-object-content-length': String(record.size),
    'last-modified': record.lastModified.toUTCString(),
    'x-oss-hash-crc64ecma': record.crc64,
  });
};

export const deleteObject: OperationHandler = async (context) => {
  await context.store.deleteObject(context.bucket, context.target.key);
  return emptyReply(204);
};

/** DeleteMultipleObjects (`POST /?delete`). */
export const deleteMultipleObjects: OperationHandler = async (context) => {
  const body = await readSmallBody(context);
  const parsed = parseDeleteRequest(body.toString('utf8'));
  if (parsed === undefined) throw ossErrors.malformedXml();

  for (const key of parsed.keys) await context.store.deleteObject(context.bucket, key);
  const deleted: XmlNode[] = parsed.quiet ? [] : parsed.keys.map((key) => ['Deleted', [['Key', key]]] as const);
  return xmlReply(xmlDocument('DeleteResult', deleted));
};

export const copyObject: OperationHandler = async (context) => {
  const { request, target, store } = context;
  validateObjectKey(target);
  const forbidOverwrite = forbidOverwriteOf(request.headers);
  const source = requireCopySource(context);
  if (source.size > MAX_COPY_OBJECT_BYTES) {
    throw ossErrors.invalidArgument('The source object of CopyObject must not be larger than 1 GB. Use UploadPartCopy.', {
      SourceSize: String(source.size),
    });
  }

  const directive = headerText(request.headers, 'x-oss-metadata-directive') || 'COPY';
  if (directive !== 'COPY' && directive !== 'REPLACE') {
    throw ossErrors.invalidArgument('x-oss-metadata-directive must be COPY or REPLACE.', { ArgumentValue: directive });
  }

  const record: ObjectRecord = {
    ...source,
    key: target.key,
    body: await store.bodies.duplicate(source.body),
    lastModified: new Date(),
    ...(directive === 'REPLACE' ? { contentType: contentTypeOf(request.headers), meta: metaFromHeaders(request.headers) } : {}),
  };
  await store.commitObject(context.bucket, record, forbidOverwrite);

  // The reply carries no x-oss-hash-crc64ecma, because OSS does not promise one on copies.
  const result = xmlDocument('CopyObjectResult', [
    ['ETag', quoted(record.etag)],
    ['LastModified', record.lastModified.toISOString()],
  ]);
  return xmlReply(result, { etag: quoted(record.etag) });
};

/**
 * Resolves `x-oss-copy-source: /<bucket>/<url-encoded key>` and checks that the requester may read it.
 * Used by CopyObject and UploadPartCopy.
 */
export function requireCopySource(context: OperationContext): ObjectRecord {
  const header = headerText(context.request.headers, 'x-oss-copy-source');
  const match = /^\/?([^/]+)\/(.+)$/.exec(header.split('?')[0]!);
  if (match === null) {
    throw ossErrors.invalidArgument('x-oss-copy-source must have the form /<bucket>/<key>.', { CopySource: header });
  }

  const bucket: BucketState = context.store.requireBucket(match[1]!);
  requireReadAccess(bucket, context.accessKeyId);
  return requireObject(bucket, percentDecode(match[2]!).toString('utf8'));
}

/**
 * Parses a single `bytes=` range. An invalid or unsatisfiable range makes OSS return the whole object, unless
 * the request sets `x-oss-range-behavior: standard`, which turns it into 416 InvalidRange.
 */
function parseRange(header: string, size: number, context: OperationContext): { start: number; end: number } | undefined {
  if (header === '') return undefined;

  const range = rangeBounds(header, size);
  if (range !== undefined) return range;
  if (headerText(context.request.headers, 'x-oss-range-behavior') === 'standard') {
    throw ossErrors.invalidRange(header, size);
  }
  return undefined;
}

function rangeBounds(header: string, size: number): { start: number; end: number } | undefined {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (match === null || (match[1] === '' && match[2] === '')) return undefined;

  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) return undefined;
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }

  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size || end < start) return undefined;
  return { start, end };
}

/** `response-content-type` and its siblings override the stored headers of a GetObject reply. */
function responseOverrides(context: OperationContext): Record<string, string> {
  const overrides: Record<string, string> = {};
  for (const name of ['content-type', 'content-language', 'expires', 'cache-control', 'content-disposition', 'content-encoding']) {
    const value = queryValue(context.target, `response-${name}`);
    if (value !== undefined) overrides[name] = value;
  }
  return overrides;
}
