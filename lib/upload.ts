import { Readable } from 'node:stream';
import { combineCrc64, Crc64 } from './crc64';
import { OssError, SourceError, SourceErrorReason, SyncError } from './errors';
import type { Logger } from './log';
import { writeHeaders, type OssBucket, type WriteOptions, type WrittenObject } from './oss';

/** `OssError.code` when the destination's CRC-64 differs from the bytes sent; the copy can be repeated. */
export const CRC64_MISMATCH = 'CRC64Mismatch';

/** Bytes per part of a multipart upload, and parts in flight: about 40 MiB of buffers per copy. */
export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
export const DEFAULT_QUEUE_SIZE = 4;

/** OSS rejects a multipart upload with more parts than this. */
export const MAX_PARTS = 10_000;
/** OSS rejects, at Complete, any part but the last that is smaller than this. */
export const MIN_PART_SIZE = 100 * 1024;

export interface StreamUploadOptions extends WriteOptions {
  /** Bytes per part; raised when needed to keep a known size under 10,000 parts. */
  partSize: number;
  /** Parts uploaded at once. Memory use is about (queueSize + 1) × partSize. */
  queueSize: number;
  /** Size the source announced (Content-Length); a different byte count fails the upload before Complete. */
  expectedSize?: number;
  /** CRC-64 the source announced; a different checksum fails the upload before Complete. */
  expectedCrc64?: string;
  /** Attempts per part, the first included. */
  partAttempts?: number;
  /** Called after each chunk with the bytes read so far. */
  onProgress?: (bytesRead: number) => void;
  /** Epoch milliseconds after which the upload is aborted and fails with a retryable `DeadlineError`. */
  deadlineMs?: number;
  logger: Logger;
}

/** The function's time ran out before the copy finished; the copy was aborted and can run again. */
export class DeadlineError extends SyncError {
  constructor(message: string) {
    super(message, { retryable: true });
    this.name = 'DeadlineError';
  }
}

interface CompletedPart {
  number: number;
  etag: string;
}

/**
 * Streams `source` into `key` without holding more than a few parts in memory.
 *
 * A source that fits in one part goes up with a single PutObject. A larger one goes up as a multipart
 * upload with `queueSize` parts in flight, each part retried alone. Size and CRC-64 are checked against
 * what the source announced before Complete, so nothing appears at `key` unless every byte arrived; any
 * failure aborts the multipart upload so that no parts are left behind. After Complete the destination's
 * CRC-64 is compared with the one computed here.
 *
 * @throws {SourceError} when the source breaks off or its bytes differ from what it announced.
 * @throws {OssError} when OSS rejects a request after the retries.
 */
export async function uploadStream(
  bucket: OssBucket,
  key: string,
  source: AsyncIterable<Buffer> | Iterable<Buffer>,
  options: StreamUploadOptions,
): Promise<WrittenObject> {
  const partSize = choosePartSize(options.partSize, options.expectedSize);
  const upload = new MultipartWriter(bucket, key, options);
  let checksum = '0';
  let bytesRead = 0;
  let part = new PartBody();

  try {
    for await (const chunk of readSource(source, key)) {
      checkDeadline(options.deadlineMs, key, bytesRead);
      bytesRead += chunk.length;
      checkNotLonger(bytesRead, options.expectedSize, key);
      options.onProgress?.(bytesRead);

      // Parts hold the source's chunks as they came (split only at a part boundary), so no byte is copied.
      for (let offset = 0; offset < chunk.length; ) {
        const take = Math.min(partSize - part.length, chunk.length - offset);
        part.add(take === chunk.length ? chunk : chunk.subarray(offset, offset + take));
        offset += take;
        if (part.length === partSize) {
          checksum = combineCrc64(checksum, part.crc64, part.length);
          await upload.addPart(part);
          part = new PartBody();
        }
      }
    }

    checksum = combineCrc64(checksum, part.crc64, part.length);
    checkSourceIntegrity(key, bytesRead, checksum, options);
    if (!upload.started) return await putWhole(bucket, key, part.toBuffer(), checksum, options);

    if (part.length > 0) await upload.addPart(part);
    const etag = await upload.complete();
    await checkDestination(bucket, key, checksum, options.logger);
    return { key, size: bytesRead, etag, crc64: checksum, contentType: options.contentType };
  } catch (error) {
    await upload.abort(error);
    throw error;
  }
}

/** The bytes of one part as a list of chunks, with their CRC-64 computed as they are added. */
export class PartBody {
  readonly chunks: Buffer[] = [];
  length = 0;
  readonly #crc = new Crc64();

  add(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
    this.#crc.update(chunk);
  }

  get crc64(): string {
    return this.#crc.digest();
  }

  /** Returns a fresh stream over the chunks, for each attempt to send the part. */
  toStream(): Readable {
    return Readable.from(this.chunks, { objectMode: false });
  }

  toBuffer(): Buffer {
    return this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.length);
  }
}

/** Part size for an upload: the requested size, raised so that a known size needs at most 10,000 parts. */
export function choosePartSize(requested: number, expectedSize: number | undefined): number {
  const floor = Math.max(requested, MIN_PART_SIZE);
  if (expectedSize === undefined) return floor;
  const needed = Math.ceil(expectedSize / MAX_PARTS);
  const mebibyte = 1024 * 1024;
  return needed <= floor ? floor : Math.ceil(needed / mebibyte) * mebibyte;
}

/** Iterates the source, turning a stream error into a retryable `SourceError` that names the key. */
async function* readSource(source: AsyncIterable<Buffer> | Iterable<Buffer>, key: string): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of source) yield chunk;
  } catch (error) {
    if (error instanceof SourceError) throw error;
    throw new SourceError(`Download for "${key}" broke off: ${(error as Error).message}`, SourceErrorReason.Interrupted, {
      cause: error,
      retryable: true,
    });
  }
}

function checkDeadline(deadlineMs: number | undefined, key: string, bytesRead: number): void {
  if (deadlineMs !== undefined && Date.now() > deadlineMs) {
    throw new DeadlineError(`Copy of "${key}" stopped after ${bytesRead} bytes: the function's deadline passed`);
  }
}

function checkNotLonger(bytesRead: number, expectedSize: number | undefined, key: string): void {
  if (expectedSize !== undefined && bytesRead > expectedSize) {
    throw new SourceError(`Source for "${key}" sent more than its Content-Length of ${expectedSize} bytes`, SourceErrorReason.IntegrityMismatch, {
      retryable: true,
    });
  }
}

function checkSourceIntegrity(key: string, bytesRead: number, checksum: string, options: StreamUploadOptions): void {
  if (options.expectedSize !== undefined && bytesRead !== options.expectedSize) {
    throw new SourceError(
      `Source for "${key}" ended after ${bytesRead} of ${options.expectedSize} bytes`,
      SourceErrorReason.Interrupted,
      { retryable: true },
    );
  }
  if (options.expectedCrc64 !== undefined && checksum !== options.expectedCrc64) {
    throw new SourceError(
      `Source for "${key}" announced CRC-64 ${options.expectedCrc64} but its bytes have ${checksum}`,
      SourceErrorReason.IntegrityMismatch,
      { retryable: true },
    );
  }
}

async function putWhole(bucket: OssBucket, key: string, body: Buffer, checksum: string, options: StreamUploadOptions): Promise<WrittenObject> {
  const result = await bucket.putBuffer(key, body, options);
  if (result.crc64 !== undefined && result.crc64 !== checksum) {
    await bucket.delete(key);
    throw new OssError(`OSS stored "${key}" with CRC-64 ${result.crc64}, expected ${checksum}; the object was deleted`, { key, code: CRC64_MISMATCH }, { retryable: true });
  }
  return { key, size: body.length, etag: result.etag, crc64: checksum, contentType: options.contentType };
}

export async function checkDestination(bucket: OssBucket, key: string, checksum: string, logger: Logger): Promise<void> {
  const head = await bucket.head(key);
  if (head?.crc64 === undefined) {
    logger.warn('Destination sent no CRC-64; the copy was checked against the source only', { key });
    return;
  }
  if (head.crc64 !== checksum) {
    await bucket.delete(key);
    throw new OssError(`OSS stored "${key}" with CRC-64 ${head.crc64}, expected ${checksum}; the object was deleted`, { key, code: CRC64_MISMATCH }, { retryable: true });
  }
}

export type MultipartOptions = Pick<StreamUploadOptions, 'contentType' | 'meta' | 'forbidOverwrite' | 'queueSize' | 'partAttempts' | 'logger'>;

/** A multipart upload that starts on its first part and keeps `queueSize` parts in flight. */
export class MultipartWriter {
  readonly #bucket: OssBucket;
  readonly #key: string;
  readonly #options: MultipartOptions;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #completed: CompletedPart[] = [];
  #uploadId: string | undefined;
  #nextPartNumber = 1;
  #failure: unknown;

  constructor(bucket: OssBucket, key: string, options: MultipartOptions) {
    this.#bucket = bucket;
    this.#key = key;
    this.#options = options;
  }

  get started(): boolean {
    return this.#uploadId !== undefined;
  }

  /** Queues one part, waiting while `queueSize` parts are in flight. `body` must not be changed afterwards. */
  async addPart(body: PartBody): Promise<void> {
    await this.addTask((uploadId, partNumber) => this.#uploadPart(uploadId, partNumber, body));
  }

  /**
   * Queues one part produced by `send` (an UploadPart or UploadPartCopy that resolves with the part's ETag),
   * starting the upload first when needed and waiting while `queueSize` parts are in flight.
   */
  async addTask(send: (uploadId: string, partNumber: number) => Promise<string>): Promise<void> {
    if (this.#uploadId === undefined) this.#uploadId = await this.#initiate();
    while (this.#inFlight.size >= this.#options.queueSize) await Promise.race(this.#inFlight);
    this.#throwIfFailed();

    const partNumber = this.#nextPartNumber;
    this.#nextPartNumber += 1;
    const task = send(this.#uploadId, partNumber)
      .then((etag) => void this.#completed.push({ number: partNumber, etag }))
      .catch((error: unknown) => {
        this.#failure ??= error;
      })
      .finally(() => this.#inFlight.delete(task));
    this.#inFlight.add(task);
  }

  /** Waits for every part, then completes the upload and returns the object's ETag. */
  async complete(): Promise<string> {
    await Promise.all(this.#inFlight);
    this.#throwIfFailed();
    const uploadId = this.#uploadId!;
    const parts = [...this.#completed].sort((a, b) => a.number - b.number);

    const completeOptions = { headers: writeHeaders(this.#options), timeout: 120_000 } as never;
    let result;
    try {
      result = await this.#bucket.request(
        'CompleteMultipartUpload',
        this.#key,
        () => this.#bucket.client.completeMultipartUpload(this.#key, uploadId, parts, completeOptions),
        this.#requestOptions(),
      );
    } catch (error) {
      // A Complete whose response was lost and that is retried finds the upload gone. The object is then in
      // place; the caller compares its CRC-64 with the bytes sent before trusting it.
      const completed = error instanceof OssError && error.code === 'NoSuchUpload' ? await this.#bucket.head(this.#key) : undefined;
      if (completed === undefined) throw error;
      this.#uploadId = undefined;
      this.#options.logger.warn('Complete returned NoSuchUpload but the object exists; checking it', { key: this.#key });
      return completed.etag;
    }
    this.#uploadId = undefined;
    return String((result.res.headers as Record<string, string>).etag ?? result.etag ?? '').replace(/^"|"$/g, '');
  }

  /** Aborts the upload after a failure so that OSS keeps no parts; failures to abort are logged, not thrown. */
  async abort(reason: unknown): Promise<void> {
    const uploadId = this.#uploadId;
    if (uploadId === undefined) return;
    this.#uploadId = undefined;
    await Promise.allSettled(this.#inFlight);

    try {
      await this.#bucket.request('AbortMultipartUpload', this.#key, () => this.#bucket.client.abortMultipartUpload(this.#key, uploadId), this.#requestOptions());
      this.#options.logger.info('Multipart upload aborted', { key: this.#key, reason });
    } catch (error) {
      // NOTE: parts of an upload that could not be aborted stay billed until a bucket lifecycle rule for
      // incomplete multipart uploads removes them. The README recommends such a rule.
      this.#options.logger.error('Multipart upload could not be aborted', { key: this.#key, error });
    }
  }

  async #initiate(): Promise<string> {
    const initOptions = { mime: this.#options.contentType, headers: writeHeaders(this.#options), timeout: 60_000 } as never;
    const result = await this.#bucket.request(
      'InitiateMultipartUpload',
      this.#key,
      () => this.#bucket.client.initMultipartUpload(this.#key, initOptions),
      this.#requestOptions(),
    );
    return result.uploadId;
  }

  async #uploadPart(uploadId: string, partNumber: number, body: PartBody): Promise<string> {
    const timeout = Math.max(60_000, Math.ceil(body.length / (256 * 1024)) * 1_000);
    const expectedCrc64 = body.crc64;
    const result = await this.#bucket.request(
      `UploadPart ${partNumber}`,
      this.#key,
      async () => {
        const sent = await this.#bucket.client.uploadPart(this.#key, uploadId, partNumber, body.toStream(), 0, body.length, { timeout } as never);
        // OSS returns the CRC-64 of the bytes it stored; a part damaged on the way is sent again on its own.
        const stored = (sent.res.headers as Record<string, string | undefined>)['x-oss-hash-crc64ecma'];
        if (stored !== undefined && stored !== expectedCrc64) {
          throw new OssError(`OSS stored part ${partNumber} of "${this.#key}" with CRC-64 ${stored}, expected ${expectedCrc64}`, { key: this.#key, code: CRC64_MISMATCH }, { retryable: true });
        }
        return sent;
      },
      this.#requestOptions(),
    );
    return String(result.etag ?? (result.res.headers as Record<string, string>).etag ?? '');
  }

  #requestOptions(): { attempts: number; logger: Logger } {
    return { attempts: this.#options.partAttempts ?? 4, logger: this.#options.logger };
  }

  #throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }
}

/**
 * Aborts every open multipart upload under `prefix`. Called by the holder of a job's lease before it copies:
 * an upload still open there was started by a run that died, so no one will complete it.
 */
export async function abortStaleUploads(bucket: OssBucket, prefix: string, logger: Logger): Promise<number> {
  const result = await bucket.request('ListMultipartUploads', prefix, () => bucket.client.listUploads({ prefix, 'max-uploads': 1000 }));
  const uploads = (result.uploads ?? []) as { name: string; uploadId: string }[];
  for (const upload of uploads) {
    await bucket.request('AbortMultipartUpload', upload.name, () => bucket.client.abortMultipartUpload(upload.name, upload.uploadId));
    logger.info('Stale multipart upload aborted', { key: upload.name });
  }
  return uploads.length;
}
