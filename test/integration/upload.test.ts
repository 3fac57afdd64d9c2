import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { crc64 } from '../../lib/crc64';
import { OssError, SourceError } from '../../lib/errors';
import { createLogger } from '../../lib/log';
import { OssBucket } from '../../lib/oss';
import { DeadlineError, MIN_PART_SIZE, uploadStream, type StreamUploadOptions } from '../../lib/upload';
import { CredentialStore } from '../../local/common/credentials';
import { startOssEmulator, type OssEmulator } from '../../local/oss';

const BUCKET = 'upload-tests';

let oss: OssEmulator;
let bucket: OssBucket;

function options(overrides: Partial<StreamUploadOptions> = {}): StreamUploadOptions {
  return { contentType: 'application/zip', meta: { 'ims-job-id': 'job-1' }, partSize: MIN_PART_SIZE, queueSize: 2, logger: createLogger('error'), ...overrides };
}

/** Yields `data` in chunks of `chunkSize`, as a download would arrive. */
async function* chunksOf(data: Buffer, chunkSize = 64 * 1024, pauseMs = 0): AsyncGenerator<Buffer> {
  for (let offset = 0; offset < data.length; offset += chunkSize) {
    if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
    yield data.subarray(offset, offset + chunkSize);
  }
}

async function* failingAfter(data: Buffer, bytes: number): AsyncGenerator<Buffer> {
  yield* chunksOf(data.subarray(0, bytes));
  throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
}

function partRequests(partNumber: number): number {
  return oss.requests.entries.filter(
    (entry) => entry.operation === 'UploadPart' && new URL(entry.path, 'http://127.0.0.1').searchParams.get('partNumber') === String(partNumber),
  ).length;
}

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

beforeAll(async () => {
  const credentials = new CredentialStore();
  oss = await startOssEmulator({ credentials });
  oss.createBucket(BUCKET);
  bucket = new OssBucket({ ossBucket: BUCKET, ossRegion: 'oss-cn-shanghai', ossEndpoint: oss.url, ossInternal: false }, credentials.createAccessKey());
});

afterAll(async () => {
  await oss.close();
});

beforeEach(() => {
  oss.faults.clear();
});

describe('uploadStream', () => {
  it('puts a small source in one request', async () => {
    const data = randomBytes(50 * 1024);

    const written = await uploadStream(bucket, 'small.zip', chunksOf(data), options({ expectedSize: data.length, expectedCrc64: crc64(data) }));

    expect(written.size).toBe(data.length);
    expect(written.crc64).toBe(crc64(data));
    expect(oss.getObjectDirect(BUCKET, 'small.zip')?.body.equals(data)).toBe(true);
    expect(oss.getObjectDirect(BUCKET, 'small.zip')?.type).toBe('Normal');
  });

  it('uploads a large source in parts', async () => {
    const data = randomBytes(5 * MIN_PART_SIZE + 777);

    const written = await uploadStream(bucket, 'parts.zip', chunksOf(data, 33_333), options({ expectedSize: data.length }));

    const stored = oss.getObjectDirect(BUCKET, 'parts.zip');
    expect(stored?.type).toBe('Multipart');
    expect(stored?.body.equals(data)).toBe(true);
    expect(stored?.crc64).toBe(written.crc64);
    expect(stored?.meta['ims-job-id']).toBe('job-1');
    expect(oss.listOpenMultipartUploads(BUCKET)).toEqual([]);
  });

  it('retries a part that fails twice', async () => {
    const data = randomBytes(4 * MIN_PART_SIZE);
    const before = partRequests(2);
    oss.faults.add({ kind: 'error', status: 503 }, { times: 2, match: (request) => request.operation === 'UploadPart' && request.query.get('partNumber') === '2' });

    await uploadStream(bucket, 'retried.zip', chunksOf(data), options());

    expect(partRequests(2) - before).toBe(3);
    expect(oss.getObjectDirect(BUCKET, 'retried.zip')?.body.equals(data)).toBe(true);
    expect(oss.listOpenMultipartUploads(BUCKET)).toEqual([]);
  });

  it('resends a part stored with a wrong CRC-64', async () => {
    const data = randomBytes(3 * MIN_PART_SIZE);
    const before = partRequests(2);
    oss.faults.add({ kind: 'corrupt' }, { match: (request) => request.operation === 'UploadPart' && request.query.get('partNumber') === '2' });

    const written = await uploadStream(bucket, 'part-crc.zip', chunksOf(data), options());

    expect(partRequests(2) - before).toBe(2);
    expect(written.crc64).toBe(crc64(data));
    expect(oss.getObjectDirect(BUCKET, 'part-crc.zip')?.body.equals(data)).toBe(true);
  });

  it('accepts a Complete whose response was lost', async () => {
    const data = randomBytes(3 * MIN_PART_SIZE);
    oss.faults.add({ kind: 'drop', afterBytes: 0, stage: 'response-body' }, { match: (request) => request.operation === 'CompleteMultipartUpload' });

    const written = await uploadStream(bucket, 'lost-complete.zip', chunksOf(data), options());

    expect(written.crc64).toBe(crc64(data));
    expect(oss.getObjectDirect(BUCKET, 'lost-complete.zip')?.body.equals(data)).toBe(true);
    expect(oss.listOpenMultipartUploads(BUCKET)).toEqual([]);
  });

  it('aborts when a part keeps failing', async () => {
    const data = randomBytes(4 * MIN_PART_SIZE);
    oss.faults.add({ kind: 'error', status: 500 }, { times: 10, match: (request) => request.operation === 'UploadPart' && request.query.get('partNumber') === '3' });

    const error = await caught(uploadStream(bucket, 'failed-part.zip', chunksOf(data), options({ partAttempts: 3 })));

    expect(error).toBeInstanceOf(OssError);
    expect(oss.getObjectDirect(BUCKET, 'failed-part.zip')).toBeUndefined();
    expect(oss.listOpenMultipartUploads(BUCKET)).toEqual([]);
  });

  it('aborts when the source breaks off', async () => {
    const data = randomBytes(4 * MIN_PART_SIZE);

    const error = await caught(uploadStream(bucket, 'broken-source.zip', failingAfter(data, 3 * MIN_PART_SIZE), options({ expectedSize: data.length })));

    expect(error).toBeInstanceOf(SourceError);
    expect((error as SourceError).retryable).toBe(true);
    expect(oss.getObjectDirect(BUCKET, 'broken-source.zip')).toBeUndefined();
    expect(oss.listOpenMultipartUploads(BUCKET)).toEqual([]);
  });

  it('rejects a source shorter than announced', async () => {
    const data = randomBytes(3 * MIN_PART_SIZE);

    const error = await caught(uploadStream(bucket, 'short.zip', chunksOf(data), options({ expectedSize: data.length + 1 })));

    expect((error as SourceError).reason).toBe('source-interrupted');
    expect(oss.getObjectDirect(BUCKET, 'short.zip')).toBeUndefined();
    expect(oss.listOpenMultipartUploads(BUCKET)).toEqual([]);
  });

  it('rejects bytes that differ from the announced CRC-64', async () => {
    const data = randomBytes(3 * MIN_PART_SIZE);

    const error = await caught(uploadStream(bucket, 'corrupt.zip', chunksOf(data), options({ expectedSize: data.length, expectedCrc64: '12345' })));

    expect((error as SourceError).reason).toBe('source-integrity-mismatch');
    expect(oss.getObjectDirect(BUCKET, 'corrupt.zip')).toBeUndefined();
    expect(oss.listOpenMultipartUploads(BUCKET)).toEqual([]);
  });

  it('deletes a put whose stored CRC-64 differs', async () => {
    const data = randomBytes(10 * 1024);
    oss.faults.add({ kind: 'corrupt' }, { match: (request) => request.operation === 'PutObject' });

    const error = await caught(uploadStream(bucket, 'bad-crc.zip', chunksOf(data), options()));

    expect((error as OssError).code).toBe('CRC64Mismatch');
    expect(oss.getObjectDirect(BUCKET, 'bad-crc.zip')).toBeUndefined();
  });

  it('aborts cleanly at the deadline', async () => {
    const data = randomBytes(6 * MIN_PART_SIZE);

    const error = await caught(uploadStream(bucket, 'late.zip', chunksOf(data, 64 * 1024, 20), options({ deadlineMs: Date.now() + 150 })));

    expect(error).toBeInstanceOf(DeadlineError);
    expect((error as DeadlineError).retryable).toBe(true);
    expect(oss.getObjectDirect(BUCKET, 'late.zip')).toBeUndefined();
    expect(oss.listOpenMultipartUploads(BUCKET)).toEqual([]);
  });
});
