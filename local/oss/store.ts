import { randomBytes } from 'node:crypto';
import type { BodyStorage, StoredBody } from './bodies';
import { ossErrors } from './errors';

/** One stored object. */
export interface ObjectRecord {
  key: string;
  body: StoredBody;
  size: number;
  /** Upper-case hex MD5 for a Normal object, or `<HEX>-<part count>` for a multipart one. No quotes. */
  etag: string;
  /** Base64 MD5 of the bytes. Only Normal objects have one, as on OSS. */
  contentMd5: string | undefined;
  /** CRC-64/XZ of the whole object, unsigned decimal. */
  crc64: string;
  contentType: string;
  /** User metadata by lower-case name without the `x-oss-meta-` prefix, with values as header byte strings. */
  meta: Record<string, string>;
  lastModified: Date;
  type: 'Normal' | 'Multipart';
}

/** One uploaded part of a multipart upload. */
export interface PartRecord {
  partNumber: number;
  body: StoredBody;
  size: number;
  /** Upper-case hex MD5, no quotes. */
  etag: string;
  md5: Buffer;
  crc64: string;
  lastModified: Date;
}

/** A multipart upload that was initiated and neither completed nor aborted. */
export interface UploadRecord {
  uploadId: string;
  key: string;
  initiated: Date;
  contentType: string;
  meta: Record<string, string>;
  parts: Map<number, PartRecord>;
}

/** A bucket's objects, open uploads and the AccessKey IDs denied read access. */
export class BucketState {
  readonly name: string;
  readonly objects = new Map<string, ObjectRecord>();
  readonly uploads = new Map<string, UploadRecord>();
  readonly deniedReaders = new Set<string>();

  constructor(name: string) {
    this.name = name;
  }

  /** Returns the object's keys in OSS listing order: by UTF-8 bytes. */
  sortedKeys(): string[] {
    return [...this.objects.keys()].sort(compareKeys);
  }
}

/** Compares keys by their UTF-8 bytes, the order in which OSS lists them. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Buckets and their contents. Bodies live in `bodies`, and this class keeps the index. */
export class OssStore {
  readonly bodies: BodyStorage;
  readonly #buckets = new Map<string, BucketState>();

  constructor(bodies: BodyStorage) {
    this.bodies = bodies;
  }

  createBucket(name: string): BucketState {
    if (!/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(name)) {
      throw new Error(`Invalid bucket name "${name}": use 3 to 63 lower-case letters, digits and hyphens, not starting or ending with a hyphen`);
    }
    const existing = this.#buckets.get(name);
    if (existing !== undefined) return existing;

    const bucket = new BucketState(name);
    this.#buckets.set(name, bucket);
    return bucket;
  }

  bucket(name: string): BucketState | undefined {
    return this.#buckets.get(name);
  }

  requireBucket(name: string): BucketState {
    const bucket = this.#buckets.get(name);
    if (bucket === undefined) throw ossErrors.noSuchBucket(name);
    return bucket;
  }

  /**
   * Makes `record` the object at its key and releases the body it replaces. With `forbidOverwrite`, an existing
   * object makes this fail with FileAlreadyExists. The check and the swap happen in one synchronous step.
   */
  async commitObject(bucket: BucketState, record: ObjectRecord, forbidOverwrite: boolean): Promise<void> {
    const previous = bucket.objects.get(record.key);
    if (forbidOverwrite && previous !== undefined) {
      await this.bodies.release(record.body);
      throw ossErrors.fileAlreadyExists(record.key);
    }

    bucket.objects.set(record.key, record);
    if (previous !== undefined) await this.bodies.release(previous.body);
  }

  async deleteObject(bucket: BucketState, key: string): Promise<void> {
    const previous = bucket.objects.get(key);
    if (previous === undefined) return;
    bucket.objects.delete(key);
    await this.bodies.release(previous.body);
  }

  createUpload(bucket: BucketState, key: string, contentType: string, meta: Record<string, string>): UploadRecord {
    const upload: UploadRecord = {
      uploadId: randomBytes(16).toString('hex').toUpperCase(),
      key,
      initiated: new Date(),
      contentType,
      meta,
      parts: new Map(),
    };
    bucket.uploads.set(upload.uploadId, upload);
    return upload;
  }

  /** Returns the open upload `uploadId` of `key`, or throws NoSuchUpload. */
  requireUpload(bucket: BucketState, key: string, uploadId: string): UploadRecord {
    const upload = bucket.uploads.get(uploadId);
    if (upload === undefined || upload.key !== key) throw ossErrors.noSuchUpload(uploadId);
    return upload;
  }

  /** Stores a part, replacing and releasing an earlier upload of the same part number. */
  async putPart(bucket: BucketState, upload: UploadRecord, part: PartRecord): Promise<void> {
    if (!bucket.uploads.has(upload.uploadId)) {
      // The upload was completed or aborted while this part was arriving.
      await this.bodies.release(part.body);
      throw ossErrors.noSuchUpload(upload.uploadId);
    }
    const previous = upload.parts.get(part.partNumber);
    upload.parts.set(part.partNumber, part);
    if (previous !== undefined) await this.bodies.release(previous.body);
  }

  /**
   * Makes `parts` of `upload`, in this order, the body of a new object and ends the upload. The object takes
   * over the parts' bodies without copying bytes, and the upload's other parts are released. The caller must
   * pick `parts` from `upload.parts` without awaiting anything before this call, so that no UploadPart can
   * replace them in between.
   *
   * Fails with NoSuchUpload when the upload was completed or aborted meanwhile. With `forbidOverwrite`, an
   * existing object makes this fail with FileAlreadyExists and leaves the upload open with all its parts.
   * Checks and swaps happen in one synchronous step.
   */
  async completeUpload(
    bucket: BucketState,
    upload: UploadRecord,
    parts: readonly PartRecord[],
    fields: Omit<ObjectRecord, 'key' | 'body' | 'size'>,
    forbidOverwrite: boolean,
  ): Promise<ObjectRecord> {
    if (bucket.uploads.get(upload.uploadId) !== upload) throw ossErrors.noSuchUpload(upload.uploadId);
    const previous = bucket.objects.get(upload.key);
    if (forbidOverwrite && previous !== undefined) throw ossErrors.fileAlreadyExists(upload.key);

    const body = this.bodies.concatenate(parts.map((part) => part.body));
    const record: ObjectRecord = { ...fields, key: upload.key, body, size: body.size };
    bucket.objects.set(record.key, record);
    bucket.uploads.delete(upload.uploadId);

    const committedParts = new Set(parts);
    const unused = [...upload.parts.values()].filter((part) => !committedParts.has(part));
    upload.parts.clear();
    if (previous !== undefined) await this.bodies.release(previous.body);
    for (const part of unused) await this.bodies.release(part.body);
    return record;
  }

  /** Removes an upload and releases all its parts. */
  async endUpload(bucket: BucketState, upload: UploadRecord): Promise<void> {
    bucket.uploads.delete(upload.uploadId);
    for (const part of upload.parts.values()) await this.bodies.release(part.body);
    upload.parts.clear();
  }

  async close(): Promise<void> {
    await this.bodies.close();
  }
}
