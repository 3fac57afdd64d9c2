import OSS from 'ali-oss';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { crc64 } from '../../lib/crc64';
import { CredentialStore, type AccessKeyRecord } from '../../local/common/credentials';
import { startOssEmulator, type OssEmulator } from '../../local/oss';

const BUCKET = 'multipart-bucket';
const KiB = 1024;
const MiB = 1024 * KiB;

function clientFor(oss: OssEmulator, key: AccessKeyRecord): OSS {
  return new OSS({
    accessKeyId: key.accessKeyId,
    accessKeySecret: key.accessKeySecret,
    bucket: BUCKET,
    region: 'oss-cn-shanghai',
    endpoint: oss.url,
    authorizationV4: true,
    timeout: 20_000,
  } as OSS.Options);
}

/** Deterministic bytes that differ with `seed`, so that a byte from the wrong part shows up. */
function bytes(length: number, seed: number): Buffer {
  const data = Buffer.alloc(length);
  for (let i = 0; i < length; i++) data[i] = (i * 29 + seed * 71 + (i >>> 8)) & 0xff;
  return data;
}

function headersOf(result: { res: unknown }): Record<string, string> {
  return (result.res as { headers: Record<string, string> }).headers;
}

/** Casts a plain options object to an ali-oss option type, whose @types declaration marks optional fields as required. */
function aliOptions<T>(options: object): T {
  return options as T;
}

/** Returns the quoted ETag of a multipart object: `"<hex MD5 of the parts' binary MD5s>-<part count>"`. */
function multipartEtag(parts: Buffer[]): string {
  const digest = createHash('md5');
  for (const part of parts) digest.update(createHash('md5').update(part).digest());
  return `"${digest.digest('hex').toUpperCase()}-${parts.length}"`;
}

/** Uploads `parts` as one multipart upload and completes it. Returns the Complete response headers. */
async function uploadMultipart(client: OSS, key: string, parts: Buffer[]): Promise<Record<string, string>> {
  const { uploadId } = await client.initMultipartUpload(key);
  const done: { number: number; etag: string }[] = [];
  for (const [index, part] of parts.entries()) {
    const result = await client.uploadPart(key, uploadId, index + 1, part, 0, part.length);
    done.push({ number: index + 1, etag: result.etag });
  }
  return headersOf(await client.completeMultipartUpload(key, uploadId, done));
}

async function readStream(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Three parts whose sizes are not multiples of 8 or of any read chunk size. The last one is short. */
const PARTS = [bytes(100 * KiB + 3, 1), bytes(100 * KiB + 17, 2), bytes(5001, 3)];
const WHOLE = Buffer.concat(PARTS);
const FIRST_BOUNDARY = PARTS[0]!.length;
const SECOND_BOUNDARY = FIRST_BOUNDARY + PARTS[1]!.length;

/** Inclusive byte ranges of WHOLE, as a Range header names them. */
const RANGES = [
  { name: 'inside the first part', first: 10, last: 1000 },
  { name: 'ending on the last byte of a part', first: FIRST_BOUNDARY - 5, last: FIRST_BOUNDARY - 1 },
  { name: 'starting on the first byte of a part', first: FIRST_BOUNDARY, last: FIRST_BOUNDARY + 4 },
  { name: 'across one boundary', first: FIRST_BOUNDARY - 3, last: FIRST_BOUNDARY + 2 },
  { name: 'across two boundaries', first: 7, last: SECOND_BOUNDARY + 9 },
  { name: 'of one byte in the last part', first: SECOND_BOUNDARY + 100, last: SECOND_BOUNDARY + 100 },
  { name: 'to the end', first: FIRST_BOUNDARY + 50, last: WHOLE.length - 1 },
];

const STORAGES = [
  { name: 'in memory', inFolder: false },
  { name: 'in a data folder', inFolder: true },
] as const;

describe.each(STORAGES)('OSS emulator multipart object $name', ({ inFolder }) => {
  const credentials = new CredentialStore();
  let dataDir: string | undefined;
  let oss: OssEmulator;
  let client: OSS;
  let completed: Record<string, string>;

  beforeAll(async () => {
    dataDir = inFolder ? await mkdtemp(join(tmpdir(), 'oss-multipart-test-')) : undefined;
    oss = await startOssEmulator({ credentials, ...(dataDir === undefined ? {} : { dataDir }) });
    oss.createBucket(BUCKET);
    client = clientFor(oss, credentials.createAccessKey());
    completed = await uploadMultipart(client, 'multi/object.bin', PARTS);
  });

  afterAll(async () => {
    await oss.close();
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
  });

  it('returns the CRC-64 of its bytes on Complete', () => {
    expect(completed['x-oss-hash-crc64ecma']).toBe(crc64(WHOLE));
  });

  it('returns the multipart ETag on Complete', () => {
    expect(completed.etag).toBe(multipartEtag(PARTS));
  });

  it('returns the parts in order on GET', async () => {
    const result = await client.get('multi/object.bin');

    expect(Buffer.from(result.content as Buffer).equals(WHOLE)).toBe(true);
    expect(headersOf(result)['content-length']).toBe(String(WHOLE.length));
    expect(headersOf(result)['x-oss-hash-crc64ecma']).toBe(crc64(WHOLE));
  });

  it('streams the parts in order', async () => {
    const result = await client.getStream('multi/object.bin');

    expect((await readStream(result.stream as Readable)).equals(WHOLE)).toBe(true);
  });

  it.each(RANGES)('returns a range $name', async ({ first, last }) => {
    const result = await client.get('multi/object.bin', { headers: { Range: `bytes=${first}-${last}` } });

    expect(result.res.status).toBe(206);
    expect(Buffer.from(result.content as Buffer).equals(WHOLE.subarray(first, last + 1))).toBe(true);
    expect(headersOf(result)['content-range']).toBe(`bytes ${first}-${last}/${WHOLE.length}`);
  });

  it('returns a suffix range across a boundary', async () => {
    const length = PARTS[2]!.length + 10;

    const result = await client.get('multi/object.bin', { headers: { Range: `bytes=-${length}` } });

    expect(Buffer.from(result.content as Buffer).equals(WHOLE.subarray(WHOLE.length - length))).toBe(true);
  });

  it('returns size, ETag and CRC-64 on HEAD', async () => {
    const headers = headersOf(await client.head('multi/object.bin'));

    expect(headers['content-length']).toBe(String(WHOLE.length));
    expect(headers.etag).toBe(multipartEtag(PARTS));
    expect(headers['x-oss-hash-crc64ecma']).toBe(crc64(WHOLE));
    expect(headers['x-oss-object-type']).toBe('Multipart');
  });

  it('returns the whole object from getObjectDirect', () => {
    const snapshot = oss.getObjectDirect(BUCKET, 'multi/object.bin');

    expect(snapshot?.body.equals(WHOLE)).toBe(true);
    expect(snapshot?.size).toBe(WHOLE.length);
    expect(snapshot?.crc64).toBe(crc64(WHOLE));
  });

  it('stores the CRC-64 of many uneven parts', async () => {
    const parts = [bytes(100 * KiB + 1, 4), bytes(100 * KiB + 6, 5), bytes(100 * KiB + 7, 6), bytes(100 * KiB, 7), bytes(1, 8)];

    await uploadMultipart(client, 'multi/uneven.bin', parts);

    expect(oss.getObjectDirect(BUCKET, 'multi/uneven.bin')?.crc64).toBe(crc64(Buffer.concat(parts)));
  });

  it('serves an object of a single part', async () => {
    const part = bytes(777, 9);
    await uploadMultipart(client, 'multi/single.bin', [part]);

    const result = await client.get('multi/single.bin', { headers: { Range: 'bytes=100-199' } });

    expect(Buffer.from(result.content as Buffer).equals(part.subarray(100, 200))).toBe(true);
    expect(oss.getObjectDirect(BUCKET, 'multi/single.bin')?.crc64).toBe(crc64(part));
  });

  it('copies a multipart source with CopyObject', async () => {
    await client.copy('copy/whole.bin', 'multi/object.bin');

    const copy = oss.getObjectDirect(BUCKET, 'copy/whole.bin');
    expect(copy?.body.equals(WHOLE)).toBe(true);
    expect(copy?.crc64).toBe(crc64(WHOLE));
    expect(copy?.etag).toBe(multipartEtag(PARTS).replace(/"/g, ''));
  });

  it('keeps a copy intact when the source is deleted', async () => {
    await uploadMultipart(client, 'copy/short-lived.bin', PARTS);
    await client.copy('copy/survivor.bin', 'copy/short-lived.bin');

    await client.delete('copy/short-lived.bin');

    expect(oss.getObjectDirect(BUCKET, 'copy/survivor.bin')?.body.equals(WHOLE)).toBe(true);
  });

  it('copies ranges across boundaries with UploadPartCopy', async () => {
    const source = { sourceKey: 'multi/object.bin', sourceBucketName: BUCKET };
    const split = FIRST_BOUNDARY + 1000;
    const { uploadId } = await client.initMultipartUpload('copy/ranges.bin');
    const part1 = await client.uploadPartCopy('copy/ranges.bin', uploadId, 1, `0-${split - 1}`, source, aliOptions({}));
    const part2 = await client.uploadPartCopy('copy/ranges.bin', uploadId, 2, `${split}-${WHOLE.length - 1}`, source, aliOptions({}));

    await client.completeMultipartUpload('copy/ranges.bin', uploadId, [
      { number: 1, etag: part1.etag },
      { number: 2, etag: part2.etag },
    ]);

    const copy = oss.getObjectDirect(BUCKET, 'copy/ranges.bin');
    expect(copy?.body.equals(WHOLE)).toBe(true);
    expect(copy?.crc64).toBe(crc64(WHOLE));
  });

  it('replaces a multipart object with a put', async () => {
    await uploadMultipart(client, 'replace/target.bin', PARTS);

    await client.put('replace/target.bin', Buffer.from('plain'));

    expect(oss.getObjectDirect(BUCKET, 'replace/target.bin')?.body.toString()).toBe('plain');
  });

  it('completes with a part uploaded again', async () => {
    const { uploadId } = await client.initMultipartUpload('multi/again.bin');
    await client.uploadPart('multi/again.bin', uploadId, 1, PARTS[1]!, 0, PARTS[1]!.length);
    const part1 = await client.uploadPart('multi/again.bin', uploadId, 1, PARTS[0]!, 0, PARTS[0]!.length);
    const part2 = await client.uploadPart('multi/again.bin', uploadId, 2, PARTS[2]!, 0, PARTS[2]!.length);

    await client.completeMultipartUpload('multi/again.bin', uploadId, [
      { number: 1, etag: part1.etag },
      { number: 2, etag: part2.etag },
    ]);

    expect(oss.getObjectDirect(BUCKET, 'multi/again.bin')?.body.equals(Buffer.concat([PARTS[0]!, PARTS[2]!]))).toBe(true);
  });
});

describe('OSS emulator multipart part files', () => {
  const credentials = new CredentialStore();
  let dataDir: string;
  let bodiesDir: string;
  let oss: OssEmulator;
  let client: OSS;

  /** Names of the files under `<dataDir>/bodies`. */
  const bodyFiles = async (): Promise<string[]> => (await readdir(bodiesDir)).sort();

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'oss-multipart-files-test-'));
    bodiesDir = join(dataDir, 'bodies');
    oss = await startOssEmulator({ credentials, dataDir });
    oss.createBucket(BUCKET);
    client = clientFor(oss, credentials.createAccessKey());
  });

  afterAll(async () => {
    await oss.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps one file per part after Complete', async () => {
    const before = (await bodyFiles()).length;

    await uploadMultipart(client, 'files/kept.bin', PARTS);

    expect(await bodyFiles()).toHaveLength(before + PARTS.length);
  });

  it('deletes part files with the object', async () => {
    const before = await bodyFiles();
    await uploadMultipart(client, 'files/deleted.bin', PARTS);

    await client.delete('files/deleted.bin');

    expect(await bodyFiles()).toEqual(before);
  });

  it('deletes part files on DeleteMultipleObjects', async () => {
    const before = await bodyFiles();
    await uploadMultipart(client, 'files/batch.bin', PARTS);

    await client.deleteMulti(['files/batch.bin']);

    expect(await bodyFiles()).toEqual(before);
  });

  it('deletes part files when a put overwrites', async () => {
    await client.put('files/overwritten.bin', Buffer.from('before'));
    const before = (await bodyFiles()).length;
    await uploadMultipart(client, 'files/overwritten.bin', PARTS);

    await client.put('files/overwritten.bin', Buffer.from('after'));

    expect(await bodyFiles()).toHaveLength(before);
  });

  it('deletes part files when a Complete overwrites', async () => {
    await uploadMultipart(client, 'files/completed-twice.bin', PARTS);
    const withFirst = (await bodyFiles()).length;

    await uploadMultipart(client, 'files/completed-twice.bin', [PARTS[0]!, PARTS[2]!]);

    expect(await bodyFiles()).toHaveLength(withFirst - 1);
  });

  it('deletes parts left out of Complete', async () => {
    const before = (await bodyFiles()).length;
    const { uploadId } = await client.initMultipartUpload('files/partial.bin');
    const part1 = await client.uploadPart('files/partial.bin', uploadId, 1, PARTS[0]!, 0, PARTS[0]!.length);
    await client.uploadPart('files/partial.bin', uploadId, 2, PARTS[1]!, 0, PARTS[1]!.length);
    const part3 = await client.uploadPart('files/partial.bin', uploadId, 3, PARTS[2]!, 0, PARTS[2]!.length);

    await client.completeMultipartUpload('files/partial.bin', uploadId, [
      { number: 1, etag: part1.etag },
      { number: 3, etag: part3.etag },
    ]);

    expect(await bodyFiles()).toHaveLength(before + 2);
  });

  it('deletes part files on abort', async () => {
    const before = await bodyFiles();
    const { uploadId } = await client.initMultipartUpload('files/aborted.bin');
    await client.uploadPart('files/aborted.bin', uploadId, 1, PARTS[0]!, 0, PARTS[0]!.length);
    await client.uploadPart('files/aborted.bin', uploadId, 2, PARTS[1]!, 0, PARTS[1]!.length);

    await client.abortMultipartUpload('files/aborted.bin', uploadId);

    expect(await bodyFiles()).toEqual(before);
  });

  it('keeps parts when forbid-overwrite rejects', async () => {
    await client.put('files/forbidden.bin', Buffer.from('existing'));
    const { uploadId } = await client.initMultipartUpload('files/forbidden.bin');
    const part = await client.uploadPart('files/forbidden.bin', uploadId, 1, PARTS[0]!, 0, PARTS[0]!.length);
    const withPart = await bodyFiles();

    const rejected = client.completeMultipartUpload('files/forbidden.bin', uploadId, [{ number: 1, etag: part.etag }], {
      headers: { 'x-oss-forbid-overwrite': 'true' },
    });
    await expect(rejected).rejects.toMatchObject({ code: 'FileAlreadyExists' });

    expect(await bodyFiles()).toEqual(withPart);
    expect(oss.listOpenMultipartUploads(BUCKET).map((upload) => upload.uploadId)).toContain(uploadId);
    await client.abortMultipartUpload('files/forbidden.bin', uploadId);
  });

  it('copies every part file for CopyObject', async () => {
    await uploadMultipart(client, 'files/copy-source.bin', PARTS);
    const before = (await bodyFiles()).length;

    await client.copy('files/copy-target.bin', 'files/copy-source.bin');

    expect(await bodyFiles()).toHaveLength(before + PARTS.length);
  });

  it('finishes a GET despite a delete', async () => {
    // Large enough parts that most of the body is still on disk, not in socket buffers, at the delete.
    const parts = [bytes(8 * MiB, 10), bytes(8 * MiB, 11), bytes(8 * MiB, 12)];
    const before = await bodyFiles();
    await uploadMultipart(client, 'files/read-during-delete.bin', parts);
    const result = await client.getStream('files/read-during-delete.bin');
    const chunks = (result.stream as Readable)[Symbol.asyncIterator]();
    const first = await chunks.next();

    await client.delete('files/read-during-delete.bin');
    const received: Buffer[] = [first.value as Buffer];
    for (let next = await chunks.next(); next.done !== true; next = await chunks.next()) received.push(next.value as Buffer);

    expect(Buffer.concat(received).equals(Buffer.concat(parts))).toBe(true);
    // The client can see the last byte just before the server's read ends and deletes the files.
    await vi.waitFor(async () => expect(await bodyFiles()).toEqual(before));
  });
});

describe('OSS emulator close with a data folder', () => {
  it('deletes the part files', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'oss-multipart-close-test-'));
    const credentials = new CredentialStore();
    const oss = await startOssEmulator({ credentials, dataDir });
    oss.createBucket(BUCKET);
    const client = clientFor(oss, credentials.createAccessKey());
    await uploadMultipart(client, 'close/object.bin', PARTS);
    const { uploadId } = await client.initMultipartUpload('close/open.bin');
    await client.uploadPart('close/open.bin', uploadId, 1, PARTS[0]!, 0, PARTS[0]!.length);

    await oss.close();

    try {
      expect(await readdir(dataDir)).toEqual([]);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
