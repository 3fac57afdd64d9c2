import { createHash } from 'node:crypto';
import { combineCrc64 } from '../../../lib/crc64';
import { MIN_PART_BYTES, ossErrors } from '../errors';
import { receiveBody } from '../ingest';
import { emptyReply, xmlReply } from '../reply';
import { headerText } from '../sign-v1';
import { compareKeys, type PartRecord, type UploadRecord } from '../store';
import { queryValue } from '../target';
import { parseCompleteMultipartUpload, xmlDocument, type CompletePart, type XmlNode } from '../xml';
import {
  MAX_SINGLE_UPLOAD_BYTES,
  checkContentMd5,
  contentTypeOf,
  forbidOverwriteOf,
  metaFromHeaders,
  quoted,
  readSmallBody,
  receiveRequestBody,
  validateObjectKey,
  type OperationContext,
  type OperationHandler,
} from './context';
import { requireCopySource } from './objects';

const MAX_PART_NUMBER = 10_000;

export const initiateMultipartUpload: OperationHandler = async ({ request, target, bucket, store }) => {
  validateObjectKey(target);
  // Whether OSS checks x-oss-forbid-overwrite already here, and not only at Complete, is unconfirmed.
  if (forbidOverwriteOf(request.headers) && bucket.objects.has(target.key)) throw ossErrors.fileAlreadyExists(target.key);

  const upload = store.createUpload(bucket, target.key, contentTypeOf(request.headers), metaFromHeaders(request.headers));
  return xmlReply(
    xmlDocument('InitiateMultipartUploadResult', [
      ['Bucket', bucket.name],
      ['Key', upload.key],
      ['UploadId', upload.uploadId],
    ]),
  );
};

export const uploadPart: OperationHandler = async (context) => {
  const { upload, partNumber } = requirePartTarget(context);
  const received = await receiveRequestBody(context, MAX_SINGLE_UPLOAD_BYTES);
  try {
    checkContentMd5(context.request.headers, received.md5);
  } catch (error) {
    await context.store.bodies.release(received.body);
    throw error;
  }

  const part = partRecord(partNumber, received);
  await context.store.putPart(context.bucket, upload, part);

  return emptyReply(200, {
    etag: quoted(part.etag),
    'content-md5': part.md5.toString('base64'),
    'x-oss-hash-crc64ecma': part.crc64,
  });
};

/** UploadPartCopy: a part copied from an existing object, optionally a byte range of it. */
export const uploadPartCopy: OperationHandler = async (context) => {
  const { upload, partNumber } = requirePartTarget(context);
  const source = requireCopySource(context);
  const rangeHeader = headerText(context.request.headers, 'x-oss-copy-source-range');
  const { start, end } = copyRange(rangeHeader, source.size);

  const bodies = context.store.bodies;
  const received = await receiveBody(bodies.read(source.body, start, end), bodies, { maxBytes: MAX_SINGLE_UPLOAD_BYTES });
  const part = partRecord(partNumber, received);
  await context.store.putPart(context.bucket, upload, part);

  const result = xmlDocument('CopyPartResult', [
    ['LastModified', part.lastModified.toISOString()],
    ['ETag', quoted(part.etag)],
  ]);
  return xmlReply(result, { etag: quoted(part.etag), 'x-oss-hash-crc64ecma': part.crc64 });
};

export const completeMultipartUpload: OperationHandler = async (context) => {
  const { request, target, bucket, store } = context;
  const forbidOverwrite = forbidOverwriteOf(request.headers);
  const uploadId = queryValue(target, 'uploadId') ?? '';
  store.requireUpload(bucket, target.key, uploadId);
  const requested = await requestedParts(context);

  // The upload may have ended, or parts may have been replaced, while the request body arrived. From here on
  // nothing is awaited until the store has made the object, so the parts checked are the parts committed.
  const upload = store.requireUpload(bucket, target.key, uploadId);
  const parts = selectParts(upload, requested);
  // A failed commit (FileAlreadyExists) leaves the upload open, so the client can still abort it.
  const record = await store.completeUpload(
    bucket,
    upload,
    parts,
    {
      etag: multipartEtag(parts),
      contentMd5: undefined,
      crc64: parts.reduce((crc, part) => combineCrc64(crc, part.crc64, part.size), '0'),
      contentType: upload.contentType,
      meta: upload.meta,
      lastModified: new Date(),
      type: 'Multipart',
    },
    forbidOverwrite,
  );

  const result = xmlDocument('CompleteMultipartUploadResult', [
    ['Location', `http://${target.host}/${encodeURIComponent(record.key)}`],
    ['Bucket', bucket.name],
    ['Key', record.key],
    ['ETag', quoted(record.etag)],
  ]);
  return xmlReply(result, { etag: quoted(record.etag), 'x-oss-hash-crc64ecma': record.crc64 });
};

export const abortMultipartUpload: OperationHandler = async ({ target, bucket, store }) => {
  const upload = store.requireUpload(bucket, target.key, queryValue(target, 'uploadId') ?? '');
  await store.endUpload(bucket, upload);
  return emptyReply(204);
};

export const listParts: OperationHandler = async ({ target, bucket, store }) => {
  const upload = store.requireUpload(bucket, target.key, queryValue(target, 'uploadId') ?? '');
  const maxParts = boundedInteger(queryValue(target, 'max-parts'), 'max-parts', 1, 1000, 1000);
  const marker = boundedInteger(queryValue(target, 'part-number-marker'), 'part-number-marker', 0, MAX_PART_NUMBER, 0);

  const remaining = [...upload.parts.values()].filter((part) => part.partNumber > marker).sort((a, b) => a.partNumber - b.partNumber);
  const page = remaining.slice(0, maxParts);
  const truncated = remaining.length > page.length;

  const partNodes = page.map((part): XmlNode => [
    'Part',
    [
      ['PartNumber', part.partNumber],
      ['LastModified', part.lastModified.toISOString()],
      ['ETag', quoted(part.etag)],
      ['HashCrc64ecma', part.crc64],
      ['Size', part.size],
    ],
  ]);
  return xmlReply(
    xmlDocument('ListPartsResult', [
      ['Bucket', bucket.name],
      ['Key', upload.key],
      ['UploadId', upload.uploadId],
      ['PartNumberMarker', marker],
      ['NextPartNumberMarker', page.at(-1)?.partNumber ?? marker],
      ['MaxParts', maxParts],
      ['IsTruncated', truncated],
      ...partNodes,
    ]),
  );
};

export const listMultipartUploads: OperationHandler = async ({ target, bucket }) => {
  const prefix = queryValue(target, 'prefix') ?? '';
  const keyMarker = queryValue(target, 'key-marker') ?? '';
  const uploadIdMarker = queryValue(target, 'upload-id-marker') ?? '';
  const maxUploads = boundedInteger(queryValue(target, 'max-uploads'), 'max-uploads', 1, 1000, 1000);

  const remaining = [...bucket.uploads.values()]
    .filter((upload) => upload.key.startsWith(prefix))
    .sort((a, b) => compareKeys(a.key, b.key) || compareKeys(a.uploadId, b.uploadId))
    .filter((upload) => isAfterMarker(upload, keyMarker, uploadIdMarker));
  const page = remaining.slice(0, maxUploads);
  const truncated = remaining.length > page.length;
  const last = page.at(-1);

  const uploadNodes = page.map((upload): XmlNode => [
    'Upload',
    [
      ['Key', upload.key],
      ['UploadId', upload.uploadId],
      ['StorageClass', 'Standard'],
      ['Initiated', upload.initiated.toISOString()],
    ],
  ]);
  return xmlReply(
    xmlDocument('ListMultipartUploadsResult', [
      ['Bucket', bucket.name],
      ['KeyMarker', keyMarker],
      ['UploadIdMarker', uploadIdMarker],
      ['NextKeyMarker', truncated ? last!.key : ''],
      ['NextUploadIdMarker', truncated ? last!.uploadId : ''],
      ['Delimiter', ''],
      ['Prefix', prefix],
      ['MaxUploads', maxUploads],
      ['IsTruncated', truncated],
      ...uploadNodes,
    ]),
  );
};

function isAfterMarker(upload: UploadRecord, keyMarker: string, uploadIdMarker: string): boolean {
  if (keyMarker === '') return true;
  const byKey = compareKeys(upload.key, keyMarker);
  return byKey > 0 || (byKey === 0 && uploadIdMarker !== '' && compareKeys(upload.uploadId, uploadIdMarker) > 0);
}

/** Resolves the upload and part number of UploadPart and UploadPartCopy. */
function requirePartTarget(context: OperationContext): { upload: UploadRecord; partNumber: number } {
  const { target, bucket, store } = context;
  const rawPartNumber = queryValue(target, 'partNumber') ?? '';
  const partNumber = Number(rawPartNumber);
  if (!/^\d+$/.test(rawPartNumber) || partNumber < 1 || partNumber > MAX_PART_NUMBER) {
    throw ossErrors.invalidPartNumber(rawPartNumber);
  }
  return { upload: store.requireUpload(bucket, target.key, queryValue(target, 'uploadId') ?? ''), partNumber };
}

/**
 * Reads the parts that CompleteMultipartUpload names in its XML body, or returns `'all'` for
 * `x-oss-complete-all: yes`, which completes with every uploaded part and sends no body.
 */
async function requestedParts(context: OperationContext): Promise<CompletePart[] | 'all'> {
  if (headerText(context.request.headers, 'x-oss-complete-all').toLowerCase() === 'yes') return 'all';

  const requested = parseCompleteMultipartUpload((await readSmallBody(context)).toString('utf8'));
  if (requested === undefined || requested.length === 0) throw ossErrors.malformedXml();
  return requested;
}

/**
 * Picks the requested parts of `upload` and applies OSS's rules: ascending part numbers, known parts with
 * matching ETags, and every part but the last at least 100 KiB.
 */
function selectParts(upload: UploadRecord, requested: CompletePart[] | 'all'): PartRecord[] {
  if (requested === 'all') {
    const all = [...upload.parts.values()].sort((a, b) => a.partNumber - b.partNumber);
    if (all.length === 0) throw ossErrors.malformedXml();
    checkPartSizes(all);
    return all;
  }

  const parts: PartRecord[] = [];
  for (const [index, { partNumber, etag }] of requested.entries()) {
    if (index > 0 && partNumber <= requested[index - 1]!.partNumber) throw ossErrors.invalidPartOrder();
    const part = upload.parts.get(partNumber);
    if (part === undefined || normalizeEtag(etag) !== part.etag) throw ossErrors.invalidPart(partNumber, etag);
    parts.push(part);
  }
  checkPartSizes(parts);
  return parts;
}

function checkPartSizes(parts: PartRecord[]): void {
  for (const part of parts.slice(0, -1)) {
    if (part.size < MIN_PART_BYTES) throw ossErrors.entityTooSmall(part.partNumber, part.size);
  }
}

function normalizeEtag(etag: string): string {
  return etag.replace(/^"|"$/g, '').toUpperCase();
}

/** `<upper-case hex MD5 of the parts' binary MD5s>-<part count>`, the form S3 uses and OSS appears to share. */
function multipartEtag(parts: PartRecord[]): string {
  const digest = createHash('md5');
  for (const part of parts) digest.update(part.md5);
  return `${digest.digest('hex').toUpperCase()}-${parts.length}`;
}

/** Parses an optional integer query parameter within [min, max]. */
function boundedInteger(value: string | undefined, name: string, min: number, max: number, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
    throw ossErrors.invalidArgument(`${name} must be an integer between ${min} and ${max}.`, { ArgumentValue: value });
  }
  return parsed;
}

function copyRange(header: string, size: number): { start: number; end: number } {
  if (header === '') return { start: 0, end: size };
  const match = /^bytes=(\d+)-(\d*)$/.exec(header.trim());
  const start = Number(match?.[1]);
  const last = match?.[2] === '' ? size - 1 : Number(match?.[2]);
  if (match === null || start > last || last >= size) {
    throw ossErrors.invalidArgument('x-oss-copy-source-range must be bytes=<first>-<last> inside the source object.', {
      CopySourceRange: header,
      SourceSize: String(size),
    });
  }
  return { start, end: last + 1 };
}

/** Builds the record of a part whose bytes were received (uploaded or copied), with OSS's ETag for a part. */
function partRecord(partNumber: number, received: { body: PartRecord['body']; size: number; md5: Buffer; crc64: string }): PartRecord {
  return {
    partNumber,
    body: received.body,
    size: received.size,
    etag: received.md5.toString('hex').toUpperCase(),
    md5: received.md5,
    crc64: received.crc64,
    lastModified: new Date(),
  };
}
