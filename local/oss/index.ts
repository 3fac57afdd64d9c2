import { createServer } from 'node:http';
import type { CredentialStore } from '../common/credentials';
import { FaultInjector } from '../common/faults';
import { RequestLog, closeServer, listenOnLoopback } from '../common/http';
import { FolderBodyStorage, MemoryBodyStorage, type BodyStorage } from './bodies';
import { receiveBody } from './ingest';
import { createRequestListener } from './server';
import { presignV1Url } from './sign-v1';
import { OssStore, type BucketState, type ObjectRecord } from './store';

export interface OssEmulatorOptions {
  /** The account whose AccessKeys and STS tokens the emulator accepts. */
  credentials: CredentialStore;
  /** Keep object bytes in files under this folder instead of memory, for objects too large for the heap. */
  dataDir?: string;
  /** Port on 127.0.0.1, or a free one when omitted. */
  port?: number;
}

/** An object as tests see it through the direct (non-HTTP) access methods. */
export interface OssObjectSnapshot {
  body: Buffer;
  size: number;
  /** Upper-case hex MD5, or `<HEX>-<parts>` for a multipart object, without quotes. */
  etag: string;
  /** CRC-64/XZ as an unsigned decimal, the value of `x-oss-hash-crc64ecma`. */
  crc64: string;
  contentType: string;
  /** User metadata by lower-case name without the `x-oss-meta-` prefix, decoded as UTF-8. */
  meta: Record<string, string>;
  lastModified: Date;
  type: 'Normal' | 'Multipart';
}

export interface OpenMultipartUpload {
  key: string;
  uploadId: string;
  initiated: Date;
  partNumbers: number[];
}

export interface PresignOptions {
  expiresInSeconds: number;
  credentials: { accessKeyId: string; accessKeySecret: string; securityToken?: string };
  /** HTTP method the URL is signed for. Default GET. */
  method?: string;
}

/** A running local OSS: an HTTP server on 127.0.0.1 plus direct access to its store for tests. */
export interface OssEmulator {
  /** Base URL, `http://127.0.0.1:<port>`, usable as the ali-oss `endpoint`. */
  readonly url: string;
  readonly port: number;
  readonly faults: FaultInjector;
  readonly requests: RequestLog;
  close(): Promise<void>;

  createBucket(name: string): void;
  putObjectDirect(
    bucket: string,
    key: string,
    body: Buffer,
    options?: { contentType?: string; meta?: Record<string, string> },
  ): Promise<void>;
  /** Reads a whole object into memory, for test assertions on objects well under 2 GiB. */
  getObjectDirect(bucket: string, key: string): OssObjectSnapshot | undefined;
  /** Keys of a bucket in listing order, optionally only those starting with `prefix`. */
  listKeys(bucket: string, prefix?: string): string[];
  listOpenMultipartUploads(bucket: string): OpenMultipartUpload[];
  /** Returns a V1 presigned path-style URL: `<url>/<bucket>/<key>?OSSAccessKeyId=..&Expires=..&Signature=..`. */
  presignUrl(bucket: string, key: string, options: PresignOptions): string;
  /** Makes reads (GetObject, HeadObject, copy source) by `accessKeyId` fail with 403 AccessDenied. */
  denyRead(bucket: string, accessKeyId: string): void;
  /** Undoes `denyRead`. */
  allowRead(bucket: string, accessKeyId: string): void;
}

/** Starts the OSS emulator on 127.0.0.1. */
export async function startOssEmulator(options: OssEmulatorOptions): Promise<OssEmulator> {
  const bodies: BodyStorage = options.dataDir === undefined ? new MemoryBodyStorage() : await FolderBodyStorage.create(options.dataDir);
  const store = new OssStore(bodies);
  const faults = new FaultInjector();
  const requests = new RequestLog();
  const server = createServer(createRequestListener({ store, credentials: options.credentials, faults, requests }));
  const { port, url } = await listenOnLoopback(server, options.port);

  const requireBucket = (name: string): BucketState => {
    const bucket = store.bucket(name);
    if (bucket === undefined) throw new Error(`Bucket "${name}" does not exist in the OSS emulator; call createBucket first`);
    return bucket;
  };

  return {
    url,
    port,
    faults,
    requests,

    async close() {
      await closeServer(server);
      await store.close();
    },

    createBucket(name) {
      store.createBucket(name);
    },

    async putObjectDirect(bucketName, key, body, putOptions = {}) {
      const bucket = requireBucket(bucketName);
      const received = await receiveBody([body], bodies, { maxBytes: Number.MAX_SAFE_INTEGER });
      const record: ObjectRecord = {
        key,
        body: received.body,
        size: received.size,
        etag: received.md5.toString('hex').toUpperCase(),
        contentMd5: received.md5.toString('base64'),
        crc64: received.crc64,
        contentType: putOptions.contentType ?? 'application/octet-stream',
        meta: toHeaderMeta(putOptions.meta ?? {}),
        lastModified: new Date(),
        type: 'Normal',
      };
      await store.commitObject(bucket, record, false);
    },

    getObjectDirect(bucketName, key) {
      const record = requireBucket(bucketName).objects.get(key);
      if (record === undefined) return undefined;

      return {
        body: bodies.readAll(record.body),
        size: record.size,
        etag: record.etag,
        crc64: record.crc64,
        contentType: record.contentType,
        meta: fromHeaderMeta(record.meta),
        lastModified: record.lastModified,
        type: record.type,
      };
    },

    listKeys(bucketName, prefix = '') {
      return requireBucket(bucketName)
        .sortedKeys()
        .filter((key) => key.startsWith(prefix));
    },

    listOpenMultipartUploads(bucketName) {
      return [...requireBucket(bucketName).uploads.values()].map((upload) => ({
        key: upload.key,
        uploadId: upload.uploadId,
        initiated: upload.initiated,
        partNumbers: [...upload.parts.keys()].sort((a, b) => a - b),
      }));
    },

    presignUrl(bucket, key, presignOptions) {
      return presignV1Url({
        baseUrl: url,
        bucket,
        key,
        method: presignOptions.method,
        expiresAtSeconds: Math.floor(Date.now() / 1000) + presignOptions.expiresInSeconds,
        credentials: presignOptions.credentials,
      });
    },

    denyRead(bucketName, accessKeyId) {
      requireBucket(bucketName).deniedReaders.add(accessKeyId);
    },

    allowRead(bucketName, accessKeyId) {
      requireBucket(bucketName).deniedReaders.delete(accessKeyId);
    },
  };
}

/** Stored metadata values are header byte strings, so UTF-8 text is kept as its bytes. */
function toHeaderMeta(meta: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(meta).map(([name, value]) => [name.toLowerCase(), Buffer.from(value, 'utf8').toString('latin1')]),
  );
}

function fromHeaderMeta(meta: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(meta).map(([name, value]) => [name, Buffer.from(value, 'latin1').toString('utf8')]));
}

export { OssServiceError } from './errors';
