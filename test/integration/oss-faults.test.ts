import OSS from 'ali-oss';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { Agent, get as httpGet, type IncomingMessage } from 'node:http';
import type { LookupFunction } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { crc64 } from '../../lib/crc64';
import { CredentialStore, type AccessKeyRecord } from '../../local/common/credentials';
import { startOssEmulator, type OssEmulator } from '../../local/oss';

const BUCKET = 'fault-bucket';
const REGION = 'oss-cn-shanghai';

function clientFor(endpoint: string, key: AccessKeyRecord, extra: Record<string, unknown> = {}): OSS {
  return new OSS({
    accessKeyId: key.accessKeyId,
    accessKeySecret: key.accessKeySecret,
    bucket: BUCKET,
    region: REGION,
    endpoint,
    authorizationV4: true,
    timeout: 10_000,
    ...extra,
  } as OSS.Options);
}

function bytes(length: number, seed = 1): Buffer {
  const data = Buffer.alloc(length);
  for (let i = 0; i < length; i++) data[i] = (i * 11 + seed * 17 + (i >>> 10)) & 0xff;
  return data;
}

async function rejectionOf(promise: Promise<unknown>): Promise<{ code?: string; status?: number; name?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { code?: string; status?: number };
  }
  throw new Error('expected the call to fail, but it succeeded');
}

function headersOf(result: { res: unknown }): Record<string, string> {
  return (result.res as { headers: Record<string, string> }).headers;
}

/** Resolves every host name to 127.0.0.1, so that virtual-hosted names such as `bucket.localhost` reach the emulator. */
const loopbackLookup = ((_hostname: string, options: unknown, callback: unknown) => {
  const done = (typeof options === 'function' ? options : callback) as (...args: unknown[]) => void;
  const wantsAll = typeof options === 'object' && options !== null && (options as { all?: boolean }).all === true;
  if (wantsAll) done(null, [{ address: '127.0.0.1', family: 4 }]);
  else done(null, '127.0.0.1', 4);
}) as LookupFunction;

function fetchUrl(url: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    httpGet(url, { lookup: loopbackLookup }, (response: IncomingMessage) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks) }));
      response.on('error', reject);
    }).on('error', reject);
  });
}

describe('OSS emulator faults', () => {
  const credentials = new CredentialStore();
  let oss: OssEmulator;
  let key: AccessKeyRecord;
  let client: OSS;

  beforeAll(async () => {
    oss = await startOssEmulator({ credentials });
    oss.createBucket(BUCKET);
    key = credentials.createAccessKey();
    client = clientFor(oss.url, key);
  });

  afterEach(() => {
    oss.faults.clear();
  });

  afterAll(async () => {
    await oss.close();
  });

  it('leaves no object after a dropped upload', async () => {
    oss.faults.add({ kind: 'drop', afterBytes: 1000 }, { match: (request) => request.operation === 'PutObject' });

    const error = await rejectionOf(client.put('drop/put.bin', bytes(64 * 1024)));

    expect(error.status).toBe(-1);
    expect(oss.listKeys(BUCKET, 'drop/')).toEqual([]);
    expect(oss.requests.entries.at(-1)).toMatchObject({ operation: 'PutObject', status: 0 });
  });

  it('leaves no object after a dropped chunked upload', async () => {
    oss.faults.add({ kind: 'drop', afterBytes: 10 }, { match: (request) => request.operation === 'PutObject' });

    await rejectionOf(client.putStream('drop/stream.bin', Readable.from([bytes(64 * 1024), bytes(64 * 1024, 2)])));

    expect(oss.listKeys(BUCKET, 'drop/')).toEqual([]);
  });

  it('leaves no part after a dropped UploadPart', async () => {
    const { uploadId } = await client.initMultipartUpload('drop/multi.bin');
    oss.faults.add({ kind: 'drop', afterBytes: 100 }, { match: (request) => request.operation === 'UploadPart' });

    await rejectionOf(client.uploadPart('drop/multi.bin', uploadId, 1, bytes(32 * 1024), 0, 32 * 1024));

    expect(oss.listOpenMultipartUploads(BUCKET)).toEqual([expect.objectContaining({ uploadId, partNumbers: [] })]);
    await client.abortMultipartUpload('drop/multi.bin', uploadId);
  });

  it('stores the object when the drop follows the whole body', async () => {
    const body = bytes(2000);
    oss.faults.add({ kind: 'drop', afterBytes: body.length }, { match: (request) => request.operation === 'PutObject' });

    const error = await rejectionOf(client.put('drop/after-body.bin', body));

    expect(error.status).toBe(-1);
    expect(oss.getObjectDirect(BUCKET, 'drop/after-body.bin')?.body.equals(body)).toBe(true);
  });

  it('cuts a download mid-body', async () => {
    await oss.putObjectDirect(BUCKET, 'get/cut.bin', bytes(50_000));
    oss.faults.add({ kind: 'drop', afterBytes: 1000 }, { match: (request) => request.operation === 'GetObject' });

    const error = await rejectionOf(client.get('get/cut.bin'));

    expect(error.status).toBe(-1);
  });

  it('truncates a download that still ends normally', async () => {
    const body = bytes(50_000);
    await oss.putObjectDirect(BUCKET, 'get/truncated.bin', body);
    oss.faults.add({ kind: 'truncate', afterBytes: 1234 }, { match: (request) => request.operation === 'GetObject' });

    const result = await client.get('get/truncated.bin');

    const received = Buffer.from(result.content as Buffer);
    expect(received.equals(body.subarray(0, 1234))).toBe(true);
    expect(headersOf(result)['x-oss-hash-crc64ecma']).toBe(crc64(body));
  });

  it('flips one byte of a download', async () => {
    const body = bytes(4096);
    await oss.putObjectDirect(BUCKET, 'get/corrupt.bin', body);
    oss.faults.add({ kind: 'corrupt' }, { match: (request) => request.operation === 'GetObject' });

    const result = await client.get('get/corrupt.bin');

    const received = Buffer.from(result.content as Buffer);
    const differing = [...received].filter((byte, index) => byte !== body[index]).length;
    expect(received.length).toBe(body.length);
    expect(differing).toBe(1);
    expect(headersOf(result)['x-oss-hash-crc64ecma']).toBe(crc64(body));
  });

  it('sends a wrong CRC-64 for an upload', async () => {
    const body = bytes(4096, 3);
    oss.faults.add({ kind: 'corrupt' }, { match: (request) => request.operation === 'PutObject' });

    const result = await client.put('put/corrupt-crc.bin', body);

    expect(headersOf(result)['x-oss-hash-crc64ecma']).not.toBe(crc64(body));
    expect(oss.getObjectDirect(BUCKET, 'put/corrupt-crc.bin')?.crc64).toBe(crc64(body));
  });

  it('answers an injected 503 once', async () => {
    oss.faults.add({ kind: 'error', status: 503 });

    const error = await rejectionOf(client.put('error/once.txt', Buffer.from('x')));
    await client.put('error/once.txt', Buffer.from('x'));

    expect(error.status).toBe(503);
    expect(error.code).toBe('ServiceUnavailable');
    expect(oss.listKeys(BUCKET, 'error/')).toEqual(['error/once.txt']);
  });

  it('uses the injected error code', async () => {
    oss.faults.add({ kind: 'error', status: 500, code: 'InternalError', message: 'injected failure' });

    const error = await rejectionOf(client.head('error/once.txt'));

    expect(error.status).toBe(500);
    expect(error.code).toBe('InternalError');
  });

  it('throttles with TotalQpsLimitExceeded', async () => {
    oss.faults.add({ kind: 'throttle' }, { times: 2 });

    const first = await rejectionOf(client.put('throttle/a.txt', Buffer.from('x')));
    const second = await rejectionOf(client.put('throttle/a.txt', Buffer.from('x')));

    expect(first.status).toBe(503);
    expect(first.code).toBe('TotalQpsLimitExceeded');
    expect(second.code).toBe('TotalQpsLimitExceeded');
    expect(oss.faults.pending).toBe(0);
  });

  it('sends an HTML error page', async () => {
    oss.faults.add({ kind: 'error', status: 502, html: true });

    const error = await rejectionOf(client.put('error/html.txt', Buffer.from('x')));

    expect(error.status).toBe(502);
    expect(oss.listKeys(BUCKET, 'error/html')).toEqual([]);
  });

  it('delays a request and then runs it', async () => {
    oss.faults.add({ kind: 'delay', ms: 200 });
    const startedAt = Date.now();

    await client.put('delay/a.txt', Buffer.from('x'));

    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(150);
    expect(oss.listKeys(BUCKET, 'delay/')).toEqual(['delay/a.txt']);
  });

  it('applies a fault only to matching operations', async () => {
    oss.faults.add({ kind: 'error', status: 500 }, { match: (request) => request.operation === 'UploadPart' });

    await client.put('match/put.txt', Buffer.from('x'));

    expect(oss.faults.pending).toBe(1);
  });

  it('serves a presigned URL to plain http.get', async () => {
    await oss.putObjectDirect(BUCKET, 'presigned/a b.txt', Buffer.from('signed content'));
    const url = oss.presignUrl(BUCKET, 'presigned/a b.txt', { expiresInSeconds: 600, credentials: key });

    const response = await fetchUrl(url);

    expect(response.status).toBe(200);
    expect(response.body.toString()).toBe('signed content');
  });

  it('serves a presigned URL signed with an STS token', async () => {
    const role = credentials.issueStsCredentials();
    await oss.putObjectDirect(BUCKET, 'presigned/sts.txt', Buffer.from('sts content'));
    const url = oss.presignUrl(BUCKET, 'presigned/sts.txt', { expiresInSeconds: 600, credentials: role });

    const response = await fetchUrl(url);

    expect(new URL(url).searchParams.get('security-token')).toBe(role.securityToken);
    expect(response.status).toBe(200);
  });

  it('serves an ali-oss signatureUrl on a virtual-hosted name', async () => {
    await oss.putObjectDirect(BUCKET, 'presigned/ali.txt', Buffer.from('ali content'));
    const signer = clientFor(`http://localhost:${oss.port}`, key, { authorizationV4: false });
    const url = signer.signatureUrl('presigned/ali.txt', { expires: 600 });

    const response = await fetchUrl(url);

    expect(new URL(url).hostname).toBe(`${BUCKET}.localhost`);
    expect(response.status).toBe(200);
    expect(response.body.toString()).toBe('ali content');
  });

  it('serves ali-oss on a virtual-hosted endpoint', async () => {
    const agent = new Agent({ keepAlive: true, lookup: loopbackLookup });
    const vhostClient = clientFor(`http://localhost:${oss.port}`, key, { agent });

    await vhostClient.put('vhost/a.txt', Buffer.from('vhost'));
    const result = await vhostClient.get('vhost/a.txt');
    agent.destroy();

    expect(Buffer.from(result.content as Buffer).toString()).toBe('vhost');
  });
});

describe('OSS emulator with a data folder', () => {
  const credentials = new CredentialStore();
  let dataDir: string;
  let oss: OssEmulator;
  let client: OSS;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'oss-emulator-test-'));
    oss = await startOssEmulator({ credentials, dataDir });
    oss.createBucket(BUCKET);
    client = clientFor(oss.url, credentials.createAccessKey());
  });

  afterAll(async () => {
    await oss.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps a streamed object in a file', async () => {
    const body = bytes(3 * 1024 * 1024 + 7);

    const result = await client.putStream('folder/stream.bin', Readable.from([body.subarray(0, 1_000_000), body.subarray(1_000_000)]));

    expect(headersOf(result)['x-oss-hash-crc64ecma']).toBe(crc64(body));
    expect(oss.getObjectDirect(BUCKET, 'folder/stream.bin')?.body.equals(body)).toBe(true);
    expect(await readdir(join(dataDir, 'bodies'))).toHaveLength(1);
  });

  it('assembles a multipart object from part files', async () => {
    const filesBefore = (await readdir(join(dataDir, 'bodies'))).length;
    const first = bytes(200 * 1024, 2);
    const second = bytes(5000, 3);
    const { uploadId } = await client.initMultipartUpload('folder/multi.bin');
    const part1 = await client.uploadPart('folder/multi.bin', uploadId, 1, first, 0, first.length);
    const part2 = await client.uploadPart('folder/multi.bin', uploadId, 2, second, 0, second.length);

    await client.completeMultipartUpload('folder/multi.bin', uploadId, [
      { number: 1, etag: part1.etag },
      { number: 2, etag: part2.etag },
    ]);

    const whole = Buffer.concat([first, second]);
    const result = await client.get('folder/multi.bin', { headers: { Range: 'bytes=204790-204809' } });
    expect(Buffer.from(result.content as Buffer).equals(whole.subarray(204_790, 204_810))).toBe(true);
    expect(oss.getObjectDirect(BUCKET, 'folder/multi.bin')?.crc64).toBe(crc64(whole));
    // The object keeps its two part files instead of one joined file.
    expect(await readdir(join(dataDir, 'bodies'))).toHaveLength(filesBefore + 2);
  });

  it('leaves no file after a dropped upload', async () => {
    const before = await readdir(join(dataDir, 'bodies'));
    oss.faults.add({ kind: 'drop', afterBytes: 5000 }, { match: (request) => request.operation === 'PutObject' });

    await rejectionOf(client.put('folder/dropped.bin', bytes(256 * 1024)));

    expect(oss.listKeys(BUCKET, 'folder/dropped')).toEqual([]);
    expect(await readdir(join(dataDir, 'bodies'))).toEqual(before);
    expect(await readdir(join(dataDir, 'tmp'))).toEqual([]);
  });

  it('deletes the file of a deleted object', async () => {
    await client.put('folder/short-lived.bin', bytes(100));
    const withObject = (await readdir(join(dataDir, 'bodies'))).length;

    await client.delete('folder/short-lived.bin');

    expect(await readdir(join(dataDir, 'bodies'))).toHaveLength(withObject - 1);
  });
});
