import type { Config } from './config';
import { OssError } from './errors';
import type { Logger } from './log';
import type { OssBucket, WrittenObject } from './oss';
import { CRC64_MISMATCH, MultipartWriter } from './upload';

/** An object in OSS that a ProjectUrl names. */
export interface OssObjectLocation {
  bucket: string;
  key: string;
}

/** OSS documents CopyObject for objects up to 1 GB; larger ones are copied part by part with UploadPartCopy. */
export const COPY_OBJECT_LIMIT = 1024 ** 3;
/** Bytes per UploadPartCopy part. */
const COPY_PART_SIZE = 128 * 1024 ** 2;
const MAX_PARTS = 10_000;

const VIRTUAL_HOSTED = /^([a-z0-9][a-z0-9-]{1,61}[a-z0-9])\.(oss-[a-z0-9-]+?)(-internal)?\.aliyuncs\.com$/;

/**
 * Returns the bucket and key a ProjectUrl names when the object lives in the same OSS region as the
 * destination (`<bucket>.oss-<region>[-internal].aliyuncs.com/<key>`), or on the configured OSS endpoint
 * in path style (`<OSS_ENDPOINT>/<bucket>/<key>`, as local emulators serve it). Returns undefined for any
 * other URL, which is then downloaded.
 */
export function locateSameRegionObject(projectUrl: URL, config: Pick<Config, 'ossRegion' | 'ossEndpoint'>): OssObjectLocation | undefined {
  const path = projectUrl.pathname.slice(1);
  if (path === '') return undefined;

  const hosted = VIRTUAL_HOSTED.exec(projectUrl.hostname);
  if (hosted !== null) {
    return hosted[2] === config.ossRegion ? { bucket: hosted[1]!, key: decodeKey(path) } : undefined;
  }

  if (config.ossEndpoint === undefined) return undefined;
  const endpoint = new URL(config.ossEndpoint.includes('://') ? config.ossEndpoint : `https://${config.ossEndpoint}`);
  if (endpoint.host !== projectUrl.host) return undefined;
  const slash = path.indexOf('/');
  if (slash <= 0 || slash === path.length - 1) return undefined;
  return { bucket: path.slice(0, slash), key: decodeKey(path.slice(slash + 1)) };
}

export interface ServerCopyOptions {
  contentType: string;
  meta: Record<string, string>;
  /** Parts copied at once when the object is above `COPY_OBJECT_LIMIT`. */
  queueSize?: number;
  logger: Logger;
}

/**
 * Copies `source` to `key` inside OSS with the function's own credentials, so no byte passes through the
 * function: CopyObject below 1 GB, UploadPartCopy above. The destination's size and CRC-64 are compared with
 * the source's afterwards; a mismatch deletes the copy.
 *
 * @throws {OssError} when the credentials cannot read the source (403 AccessDenied) or a request fails; the
 *   caller then falls back to downloading the ProjectUrl.
 */
export async function copyWithinOss(bucket: OssBucket, source: OssObjectLocation, key: string, options: ServerCopyOptions): Promise<WrittenObject> {
  const sourceBucket = bucket.forBucket(source.bucket);
  const head = await sourceBucket.head(source.key);
  if (head === undefined) {
    throw new OssError(`Source object oss://${source.bucket}/${source.key} does not exist`, { key: source.key, code: 'NoSuchKey', status: 404 });
  }

  if (head.size < COPY_OBJECT_LIMIT) await copyObject(bucket, source, key, options);
  else await copyInParts(bucket, source, key, head.size, options);

  const copied = await bucket.head(key);
  if (copied === undefined || copied.size !== head.size || (head.crc64 !== undefined && copied.crc64 !== head.crc64)) {
    await bucket.delete(key);
    throw new OssError(
      `Server-side copy of oss://${source.bucket}/${source.key} to "${key}" does not match its source (size ${copied?.size} of ${head.size}, ` +
        `CRC-64 ${copied?.crc64} of ${head.crc64}); the copy was deleted`,
      { key, code: CRC64_MISMATCH },
      { retryable: true },
    );
  }
  return { key, size: copied.size, etag: copied.etag, crc64: copied.crc64 ?? head.crc64 ?? '', contentType: options.contentType };
}

async function copyObject(bucket: OssBucket, source: OssObjectLocation, key: string, options: ServerCopyOptions): Promise<void> {
  const copyOptions = { mime: options.contentType, meta: options.meta, timeout: 300_000 } as never;
  await bucket.request('CopyObject', key, () => bucket.client.copy(key, source.key, source.bucket, copyOptions), { logger: options.logger });
}

async function copyInParts(bucket: OssBucket, source: OssObjectLocation, key: string, size: number, options: ServerCopyOptions): Promise<void> {
  const partSize = Math.max(COPY_PART_SIZE, Math.ceil(size / MAX_PARTS));
  const upload = new MultipartWriter(bucket, key, { contentType: options.contentType, meta: options.meta, queueSize: options.queueSize ?? 4, logger: options.logger });
  try {
    for (let start = 0; start < size; start += partSize) {
      const range = `${start}-${Math.min(start + partSize, size) - 1}`;
      await upload.addTask((uploadId, partNumber) => copyPart(bucket, source, key, uploadId, partNumber, range, options.logger));
    }
    await upload.complete();
  } catch (error) {
    await upload.abort(error);
    throw error;
  }
}

async function copyPart(
  bucket: OssBucket,
  source: OssObjectLocation,
  key: string,
  uploadId: string,
  partNumber: number,
  range: string,
  logger: Logger,
): Promise<string> {
  const sourceData = { sourceKey: source.key, sourceBucketName: source.bucket };
  const result = await bucket.request(
    `UploadPartCopy ${partNumber}`,
    key,
    () => bucket.client.uploadPartCopy(key, uploadId, partNumber, range, sourceData, { timeout: 300_000 }),
    { logger },
  );
  return String(result.etag);
}

function decodeKey(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}
