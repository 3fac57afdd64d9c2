import OSS from 'ali-oss';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc64 } from '../../lib/crc64';
import { CredentialStore, type AccessKeyRecord } from '../../local/common/credentials';
import { startOssEmulator, type OssEmulator } from '../../local/oss';

const REGION = 'oss-cn-shanghai';

/** Creates the ali-oss client the product would use: nothing but endpoint, region, bucket and keys. */
function clientFor(oss: OssEmulator, bucket: string, key: AccessKeyRecord, v4: boolean): OSS {
  const token = key.securityToken;
  return new OSS({
    accessKeyId: key.accessKeyId,
    accessKeySecret: key.accessKeySecret,
    bucket,
    region: REGION,
    endpoint: oss.url,
    authorizationV4: v4,
    ...(token === undefined
      ? {}
      : {
          stsToken: token,
          refreshSTSToken: async () => ({ accessKeyId: key.accessKeyId, accessKeySecret: key.accessKeySecret, stsToken: token }),
          refreshSTSTokenInterval: 3_600_000,
        }),
  } as OSS.Options);
}

/** Casts a plain options object to an ali-oss option type, whose @types declaration marks optional fields as required. */
function aliOptions<T>(options: object): T {
  return options as T;
}

function md5Hex(data: Buffer): string {
  return createHash('md5').update(data).digest('hex').toUpperCase();
}

/** Deterministic bytes, so that a failure shows the same data on every run. */
function bytes(length: number, seed = 1): Buffer {
  const data = Buffer.alloc(length);
  for (let i = 0; i < length; i++) data[i] = (i * 7 + seed * 13 + (i >>> 9)) & 0xff;
  return data;
}

function headersOf(result: { res: unknown }): Record<string, string> {
  return (result.res as { headers: Record<string, string> }).headers;
}

/** Returns the rejection of `promise`, failing the test when it resolves. */
async function rejectionOf(promise: Promise<unknown>): Promise<{ code?: string; status?: number; name?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { code?: string; status?: number };
  }
  throw new Error('expected the call to fail, but it succeeded');
}

const MODES = [
  { name: 'V1 with a long-lived key', v4: false, sts: false },
  { name: 'V1 with an STS token', v4: false, sts: true },
  { name: 'V4 with a long-lived key', v4: true, sts: false },
  { name: 'V4 with an STS token', v4: true, sts: true },
] as const;

describe.each(MODES)('OSS emulator via ali-oss $name', ({ v4, sts }) => {
  const credentials = new CredentialStore();
  const bucket = 'test-bucket';
  let oss: OssEmulator;
  let client: OSS;

  beforeAll(async () => {
    oss = await startOssEmulator({ credentials });
    oss.createBucket(bucket);
    const key = sts ? credentials.issueStsCredentials() : credentials.createAccessKey();
    client = clientFor(oss, bucket, key, v4);
  });

  afterAll(async () => {
    await oss.close();
  });

  it('stores a Buffer put', async () => {
    const body = bytes(3000);

    const result = await client.put('put/buffer.bin', body);

    expect(headersOf(result).etag).toBe(`"${md5Hex(body)}"`);
    expect(headersOf(result)['x-oss-hash-crc64ecma']).toBe(crc64(body));
    expect(oss.getObjectDirect(bucket, 'put/buffer.bin')?.body.equals(body)).toBe(true);
  });

  it('stores a stream put with Content-Length', async () => {
    const body = bytes(70_000, 2);

    const result = await client.putStream('put/sized.bin', Readable.from([body.subarray(0, 1000), body.subarray(1000)]), aliOptions({
      contentLength: body.length,
    }));

    expect(headersOf(result)['x-oss-hash-crc64ecma']).toBe(crc64(body));
    expect(oss.getObjectDirect(bucket, 'put/sized.bin')?.body.equals(body)).toBe(true);
  });

  it('stores a chunked stream put', async () => {
    const body = bytes(70_000, 3);

    const result = await client.putStream('put/chunked.bin', Readable.from([body.subarray(0, 5), body.subarray(5)]));

    expect(headersOf(result).etag).toBe(`"${md5Hex(body)}"`);
    expect(oss.getObjectDirect(bucket, 'put/chunked.bin')?.body.equals(body)).toBe(true);
  });

  it('keeps unusual key characters', async () => {
    const key = "odd/a b+c(1)!'*~&=;,报告.zip";

    await client.put(key, Buffer.from('odd'));

    expect(oss.listKeys(bucket, 'odd/')).toEqual([key]);
  });

  it('returns a byte range', async () => {
    const body = bytes(1000, 4);
    await client.put('range.bin', body);

    const result = await client.get('range.bin', { headers: { Range: 'bytes=100-199' } });

    expect(result.res.status).toBe(206);
    expect(Buffer.from(result.content as Buffer).equals(body.subarray(100, 200))).toBe(true);
    expect(headersOf(result)['content-range']).toBe('bytes 100-199/1000');
    expect(headersOf(result)['x-oss-hash-crc64ecma']).toBe(crc64(body));
  });

  it('returns metadata and content type on head', async () => {
    await client.put('meta/report.json', Buffer.from('{}'), aliOptions({
      meta: { 'ims-job-id': 'job-1' },
      mime: 'application/json',
    }));

    const head = await client.head('meta/report.json');

    expect(head.meta).toEqual({ 'ims-job-id': 'job-1' });
    expect(headersOf(head)['content-type']).toBe('application/json');
    expect(headersOf(head)['content-length']).toBe('2');
    expect(oss.getObjectDirect(bucket, 'meta/report.json')?.meta).toEqual({ 'ims-job-id': 'job-1' });
  });

  it('returns basic metadata on getObjectMeta', async () => {
    const body = bytes(321, 9);
    await client.put('meta/basic.bin', body);

    // getObjectMeta exists in ali-oss 6.23 but not in its @types declaration.
    const withMeta = client as unknown as { getObjectMeta(name: string): Promise<{ res: unknown }> };
    const result = await withMeta.getObjectMeta('meta/basic.bin');

    expect(headersOf(result).etag).toBe(`"${md5Hex(body)}"`);
    expect(headersOf(result)['x-oss-object-content-length']).toBe('321');
  });

  it('deletes several objects in one request', async () => {
    await client.put('multi-delete/a', Buffer.from('a'));
    await client.put('multi-delete/b', Buffer.from('b'));

    const result = await client.deleteMulti(['multi-delete/a', 'multi-delete/b', 'multi-delete/missing']);

    expect(result.deleted).toHaveLength(3);
    expect(oss.listKeys(bucket, 'multi-delete/')).toEqual([]);
  });

  it('deletes an object', async () => {
    await client.put('delete/me.txt', Buffer.from('x'));

    await client.delete('delete/me.txt');

    const error = await rejectionOf(client.head('delete/me.txt'));
    expect(error.status).toBe(404);
    expect(error.code).toBe('NoSuchKey');
  });

  it('pages a listing with continuation tokens', async () => {
    const keys = ['list/a', 'list/b', 'list/c', 'list/d', 'list/e'];
    for (const key of keys) await client.put(key, Buffer.from(key));

    const seen: string[] = [];
    let token: string | null = null;
    let pages = 0;
    do {
      const query: Record<string, string> = { prefix: 'list/', 'max-keys': '2' };
      if (token !== null) query['continuation-token'] = token;
      const page = await client.listV2(query as OSS.ListV2ObjectsQuery);
      seen.push(...page.objects.map((object) => object.name));
      token = page.isTruncated ? page.nextContinuationToken : null;
      pages += 1;
    } while (token !== null);

    expect(seen).toEqual(keys);
    expect(pages).toBe(3);
  });

  it('pages a first-version listing with markers', async () => {
    const keys = ['marker/a', 'marker/b', 'marker/c'];
    for (const key of keys) await client.put(key, Buffer.from(key));

    const first = await client.list(aliOptions({ prefix: 'marker/', 'max-keys': '2' }), aliOptions({}));
    const second = await client.list(aliOptions({ prefix: 'marker/', 'max-keys': '2', marker: first.nextMarker }), aliOptions({}));

    expect(first.objects.map((object) => object.name)).toEqual(['marker/a', 'marker/b']);
    expect(first.isTruncated).toBe(true);
    expect(second.objects.map((object) => object.name)).toEqual(['marker/c']);
    expect(second.isTruncated).toBe(false);
  });

  it('groups keys by delimiter', async () => {
    for (const key of ['tree/x/1', 'tree/x/2', 'tree/y/1', 'tree/top']) await client.put(key, Buffer.from(key));

    const page = await client.listV2({ prefix: 'tree/', delimiter: '/' } as OSS.ListV2ObjectsQuery);

    expect(page.prefixes).toEqual(['tree/x/', 'tree/y/']);
    expect(page.objects.map((object) => object.name)).toEqual(['tree/top']);
  });

  it('completes a manual multipart upload', async () => {
    const first = bytes(100 * 1024, 5);
    const second = bytes(1234, 6);
    const { uploadId } = await client.initMultipartUpload('multi/big.bin', { mime: 'application/zip' });

    const part1 = await client.uploadPart('multi/big.bin', uploadId, 1, first, 0, first.length);
    const part2 = await client.uploadPart('multi/big.bin', uploadId, 2, second, 0, second.length);
    const listed = await client.listParts('multi/big.bin', uploadId, aliOptions({}));
    const done = await client.completeMultipartUpload('multi/big.bin', uploadId, [
      { number: 1, etag: part1.etag },
      { number: 2, etag: part2.etag },
    ]);

    const whole = Buffer.concat([first, second]);
    expect(part1.etag).toBe(`"${md5Hex(first)}"`);
    expect(headersOf(part2)['x-oss-hash-crc64ecma']).toBe(crc64(second));
    expect(listed.parts.map((part) => Number(part.PartNumber))).toEqual([1, 2]);
    expect(headersOf(done).etag).toMatch(/^"[0-9A-F]{32}-2"$/);
    expect(headersOf(done)['x-oss-hash-crc64ecma']).toBe(crc64(whole));
    expect(oss.getObjectDirect(bucket, 'multi/big.bin')?.body.equals(whole)).toBe(true);
    expect(oss.getObjectDirect(bucket, 'multi/big.bin')?.contentType).toBe('application/zip');
    expect(oss.listOpenMultipartUploads(bucket)).toEqual([]);
  });

  it('aborts a multipart upload', async () => {
    const { uploadId } = await client.initMultipartUpload('multi/aborted.bin');
    await client.uploadPart('multi/aborted.bin', uploadId, 1, bytes(10), 0, 10);
    const listedBefore = await client.listUploads({ prefix: 'multi/aborted' });

    await client.abortMultipartUpload('multi/aborted.bin', uploadId);

    expect(listedBefore.uploads.map((upload) => upload.uploadId)).toEqual([uploadId]);
    expect(oss.listOpenMultipartUploads(bucket)).toEqual([]);
    expect(oss.listKeys(bucket, 'multi/aborted')).toEqual([]);
  });

  it('copies an object with its metadata', async () => {
    const body = bytes(500, 7);
    await client.put('copy/source.bin', body, aliOptions({ meta: { origin: 'a' } }));

    await client.copy('copy/target.bin', 'copy/source.bin');

    const copied = oss.getObjectDirect(bucket, 'copy/target.bin');
    expect(copied?.body.equals(body)).toBe(true);
    expect(copied?.meta).toEqual({ origin: 'a' });
  });

  it('copies a part range into a multipart upload', async () => {
    const body = bytes(300 * 1024, 8);
    await client.put('copy/large.bin', body);
    const { uploadId } = await client.initMultipartUpload('copy/assembled.bin');
    const source = { sourceKey: 'copy/large.bin', sourceBucketName: bucket };
    const split = 200 * 1024;
    const part1 = await client.uploadPartCopy('copy/assembled.bin', uploadId, 1, `0-${split - 1}`, source, aliOptions({}));
    const part2 = await client.uploadPartCopy(
      'copy/assembled.bin',
      uploadId,
      2,
      `${split}-${body.length - 1}`,
      source,
      aliOptions({}),
    );

    await client.completeMultipartUpload('copy/assembled.bin', uploadId, [
      { number: 1, etag: part1.etag },
      { number: 2, etag: part2.etag },
    ]);

    expect(oss.getObjectDirect(bucket, 'copy/assembled.bin')?.body.equals(body)).toBe(true);
  });

  it('rejects a put over an existing key with forbid-overwrite', async () => {
    await client.put('forbid/put.txt', Buffer.from('first'));

    const error = await rejectionOf(
      client.put('forbid/put.txt', Buffer.from('second'), { headers: { 'x-oss-forbid-overwrite': 'true' } }),
    );

    expect(error.status).toBe(409);
    expect(error.code).toBe('FileAlreadyExists');
    expect(oss.getObjectDirect(bucket, 'forbid/put.txt')?.body.toString()).toBe('first');
  });

  it('rejects a copy over an existing key with forbid-overwrite', async () => {
    await client.put('forbid/copy-source.txt', Buffer.from('source'));
    await client.put('forbid/copy-target.txt', Buffer.from('target'));

    const error = await rejectionOf(
      client.copy('forbid/copy-target.txt', 'forbid/copy-source.txt', { headers: { 'x-oss-forbid-overwrite': 'true' } }),
    );

    expect(error.code).toBe('FileAlreadyExists');
    expect(oss.getObjectDirect(bucket, 'forbid/copy-target.txt')?.body.toString()).toBe('target');
  });

  it('rejects a complete over an existing key with forbid-overwrite', async () => {
    await client.put('forbid/multi.bin', Buffer.from('existing'));
    const { uploadId } = await client.initMultipartUpload('forbid/multi.bin');
    const part = await client.uploadPart('forbid/multi.bin', uploadId, 1, bytes(10), 0, 10);

    const error = await rejectionOf(
      client.completeMultipartUpload('forbid/multi.bin', uploadId, [{ number: 1, etag: part.etag }], {
        headers: { 'x-oss-forbid-overwrite': 'true' },
      }),
    );

    expect(error.status).toBe(409);
    expect(error.code).toBe('FileAlreadyExists');
    expect(oss.getObjectDirect(bucket, 'forbid/multi.bin')?.body.toString()).toBe('existing');
    await client.abortMultipartUpload('forbid/multi.bin', uploadId);
  });
});
