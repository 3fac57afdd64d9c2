import OSS from 'ali-oss';
import { createHash, createHmac } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CredentialStore, type AccessKeyRecord } from '../../local/common/credentials';
import { startOssEmulator, type OssEmulator } from '../../local/oss';

const BUCKET = 'reject-bucket';
const REGION = 'oss-cn-shanghai';

function clientFor(oss: OssEmulator, key: Pick<AccessKeyRecord, 'accessKeyId' | 'accessKeySecret' | 'securityToken'>, v4 = false): OSS {
  return new OSS({
    accessKeyId: key.accessKeyId,
    accessKeySecret: key.accessKeySecret,
    ...(key.securityToken === undefined
      ? {}
      : {
          stsToken: key.securityToken,
          refreshSTSToken: async () => ({ ...key, stsToken: key.securityToken }),
          refreshSTSTokenInterval: 3_600_000,
        }),
    bucket: BUCKET,
    region: REGION,
    endpoint: oss.url,
    authorizationV4: v4,
  } as OSS.Options);
}

/** Casts a plain options object to an ali-oss option type, whose @types declaration marks optional fields as required. */
function aliOptions<T>(options: object): T {
  return options as T;
}

async function rejectionOf(promise: Promise<unknown>): Promise<{ code?: string; status?: number; requestId?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { code?: string; status?: number };
  }
  throw new Error('expected the call to fail, but it succeeded');
}

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** Sends one request to the emulator with Node's http client, path-style, exactly as given. */
function sendRaw(oss: OssEmulator, method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest({ host: '127.0.0.1', port: oss.port, method, path, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }),
      );
      response.on('error', reject);
    });
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

/**
 * Computes a V1 header signature with a minimal signer written for these tests from the OSS V1 rules, so that it
 * shares no code with the emulator: VERB, Content-MD5, Content-Type, x-oss-date, sorted x-oss-* lines, resource.
 */
function signV1(secret: string, method: string, resource: string, headers: Record<string, string>): string {
  const ossLines = Object.keys(headers)
    .filter((name) => name.startsWith('x-oss-'))
    .sort()
    .map((name) => `${name}:${headers[name]}\n`)
    .join('');
  const stringToSign = [
    method,
    headers['content-md5'] ?? '',
    headers['content-type'] ?? '',
    headers['x-oss-date'],
    ossLines + resource,
  ].join('\n');
  return createHmac('sha1', secret).update(stringToSign, 'utf8').digest('base64');
}

function signedHeaders(key: AccessKeyRecord, method: string, resource: string, headers: Record<string, string>): Record<string, string> {
  return { ...headers, authorization: `OSS ${key.accessKeyId}:${signV1(key.accessKeySecret, method, resource, headers)}` };
}

function xmlElement(xml: string, name: string): string | undefined {
  return new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(xml)?.[1];
}

describe('OSS emulator rejections', () => {
  const credentials = new CredentialStore();
  let oss: OssEmulator;
  let userKey: AccessKeyRecord;
  let client: OSS;

  beforeAll(async () => {
    oss = await startOssEmulator({ credentials });
    oss.createBucket(BUCKET);
    userKey = credentials.createAccessKey();
    client = clientFor(oss, userKey);
  });

  afterAll(async () => {
    await oss.close();
  });

  for (const v4 of [false, true]) {
    it(`rejects a wrong secret (${v4 ? 'V4' : 'V1'})`, async () => {
      const wrong = clientFor(oss, { accessKeyId: userKey.accessKeyId, accessKeySecret: 'not-the-secret' }, v4);

      const error = await rejectionOf(wrong.put('wrong-secret.txt', Buffer.from('x')));

      expect(error.status).toBe(403);
      expect(error.code).toBe('SignatureDoesNotMatch');
      expect(oss.listKeys(BUCKET, 'wrong-secret')).toEqual([]);
    });
  }

  it('rejects an unknown AccessKey ID', async () => {
    const unknown = clientFor(oss, { accessKeyId: 'unknown-access-key-id', accessKeySecret: 'whatever' });

    const error = await rejectionOf(unknown.put('unknown.txt', Buffer.from('x')));

    expect(error.status).toBe(403);
    expect(error.code).toBe('InvalidAccessKeyId');
  });

  it('accepts the raw signed request unchanged', async () => {
    const headers = { 'x-oss-date': new Date().toUTCString(), 'x-oss-meta-job': 'a', 'content-type': 'text/plain' };
    const signed = signedHeaders(userKey, 'PUT', `/${BUCKET}/raw.txt`, headers);

    const response = await sendRaw(oss, 'PUT', `/${BUCKET}/raw.txt`, signed, Buffer.from('raw'));

    expect(response.status).toBe(200);
    expect(oss.getObjectDirect(BUCKET, 'raw.txt')?.meta).toEqual({ job: 'a' });
  });

  it('rejects a header changed after signing', async () => {
    const headers = { 'x-oss-date': new Date().toUTCString(), 'x-oss-meta-job': 'a' };
    const signed = signedHeaders(userKey, 'PUT', `/${BUCKET}/tampered.txt`, headers);

    const response = await sendRaw(oss, 'PUT', `/${BUCKET}/tampered.txt`, { ...signed, 'x-oss-meta-job': 'b' }, Buffer.from('x'));

    expect(response.status).toBe(403);
    expect(xmlElement(response.body, 'Code')).toBe('SignatureDoesNotMatch');
    expect(xmlElement(response.body, 'StringToSign')).toContain('x-oss-meta-job:b');
    expect(xmlElement(response.body, 'SignatureProvided')).toBe(signed.authorization!.split(':')[1]);
    expect(oss.getObjectDirect(BUCKET, 'tampered.txt')).toBeUndefined();
  });

  it('rejects a clock skewed by 20 minutes', async () => {
    const headers = { 'x-oss-date': new Date(Date.now() - 20 * 60_000).toUTCString() };
    const signed = signedHeaders(userKey, 'PUT', `/${BUCKET}/skewed.txt`, headers);

    const response = await sendRaw(oss, 'PUT', `/${BUCKET}/skewed.txt`, signed, Buffer.from('x'));

    expect(response.status).toBe(403);
    expect(xmlElement(response.body, 'Code')).toBe('RequestTimeTooSkewed');
    expect(xmlElement(response.body, 'MaxAllowedSkewMilliseconds')).toBe('900000');
    expect(xmlElement(response.body, 'RequestTime')).toBe(headers['x-oss-date']);
  });

  it('rejects an expired presigned URL', async () => {
    await oss.putObjectDirect(BUCKET, 'presigned/old.txt', Buffer.from('old'));
    const url = new URL(oss.presignUrl(BUCKET, 'presigned/old.txt', { expiresInSeconds: -10, credentials: userKey }));

    const response = await sendRaw(oss, 'GET', `${url.pathname}${url.search}`, {});

    expect(response.status).toBe(403);
    expect(xmlElement(response.body, 'Code')).toBe('AccessDenied');
    expect(xmlElement(response.body, 'Message')).toBe('Request has expired.');
    expect(xmlElement(response.body, 'Expires')).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(xmlElement(response.body, 'ServerTime')).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('rejects a presigned URL with a changed key', async () => {
    await oss.putObjectDirect(BUCKET, 'presigned/other.txt', Buffer.from('other'));
    const url = new URL(oss.presignUrl(BUCKET, 'presigned/one.txt', { expiresInSeconds: 600, credentials: userKey }));

    const response = await sendRaw(oss, 'GET', `/${BUCKET}/presigned/other.txt${url.search}`, {});

    expect(response.status).toBe(403);
    expect(xmlElement(response.body, 'Code')).toBe('SignatureDoesNotMatch');
  });

  it('rejects an expired STS token', async () => {
    const role = credentials.issueStsCredentials();
    const stsClient = clientFor(oss, role);
    await stsClient.put('sts/before.txt', Buffer.from('x'));

    credentials.expire(role.accessKeyId);
    const error = await rejectionOf(stsClient.put('sts/after.txt', Buffer.from('x')));

    expect(error.status).toBe(403);
    expect(error.code).toBe('SecurityTokenExpired');
    expect(oss.listKeys(BUCKET, 'sts/')).toEqual(['sts/before.txt']);
  });

  it('rejects a wrong STS token', async () => {
    const role = credentials.issueStsCredentials();

    const error = await rejectionOf(clientFor(oss, { ...role, securityToken: 'wrong-token' }).put('sts/wrong.txt', Buffer.from('x')));

    expect(error.status).toBe(403);
    expect(error.code).toBe('InvalidSecurityToken');
  });

  it('rejects an anonymous request', async () => {
    const response = await sendRaw(oss, 'GET', `/${BUCKET}/presigned/old.txt`, {});

    expect(response.status).toBe(403);
    expect(xmlElement(response.body, 'Code')).toBe('AccessDenied');
  });

  it('sends the OSS error headers', async () => {
    const response = await sendRaw(oss, 'GET', `/${BUCKET}/presigned/old.txt`, {});

    expect(response.headers['content-type']).toBe('application/xml');
    expect(response.headers['x-oss-request-id']).toMatch(/^[0-9A-F]{24}$/);
    expect(xmlElement(response.body, 'RequestId')).toBe(response.headers['x-oss-request-id']);
    expect(xmlElement(response.body, 'EC')).toBe(response.headers['x-oss-ec']);
    expect(xmlElement(response.body, 'HostId')).toBe(`127.0.0.1:${oss.port}`);
  });

  it('reports a missing key', async () => {
    const error = await rejectionOf(client.get('missing/key.txt'));

    expect(error.status).toBe(404);
    expect(error.code).toBe('NoSuchKey');
  });

  it('reports a missing bucket', async () => {
    const other = new OSS({ ...userKey, bucket: 'no-such-bucket', region: REGION, endpoint: oss.url } as OSS.Options);

    const error = await rejectionOf(other.put('x.txt', Buffer.from('x')));

    expect(error.status).toBe(404);
    expect(error.code).toBe('NoSuchBucket');
  });

  it('reports a missing upload', async () => {
    const error = await rejectionOf(client.uploadPart('k.bin', 'NOSUCHUPLOAD', 1, Buffer.alloc(10), 0, 10));

    expect(error.status).toBe(404);
    expect(error.code).toBe('NoSuchUpload');
  });

  it('rejects a part number above 10000', async () => {
    const { uploadId } = await client.initMultipartUpload('parts/range.bin');

    const error = await rejectionOf(client.uploadPart('parts/range.bin', uploadId, 10_001, Buffer.alloc(10), 0, 10));

    expect(error.status).toBe(400);
    expect(error.code).toBe('InvalidArgument');
  });

  it('rejects a complete with a wrong part ETag', async () => {
    const { uploadId } = await client.initMultipartUpload('parts/etag.bin');
    await client.uploadPart('parts/etag.bin', uploadId, 1, Buffer.alloc(10), 0, 10);

    const error = await rejectionOf(
      client.completeMultipartUpload('parts/etag.bin', uploadId, [{ number: 1, etag: '"00000000000000000000000000000000"' }]),
    );

    expect(error.status).toBe(400);
    expect(error.code).toBe('InvalidPart');
    expect(oss.listKeys(BUCKET, 'parts/etag')).toEqual([]);
  });

  it('rejects a complete naming an unknown part', async () => {
    const { uploadId } = await client.initMultipartUpload('parts/unknown.bin');
    const part = await client.uploadPart('parts/unknown.bin', uploadId, 1, Buffer.alloc(10), 0, 10);

    const error = await rejectionOf(
      client.completeMultipartUpload('parts/unknown.bin', uploadId, [{ number: 2, etag: part.etag }]),
    );

    expect(error.code).toBe('InvalidPart');
  });

  it('rejects a small part that is not the last', async () => {
    const { uploadId } = await client.initMultipartUpload('parts/small.bin');
    const part1 = await client.uploadPart('parts/small.bin', uploadId, 1, Buffer.alloc(100 * 1024 - 1), 0, 100 * 1024 - 1);
    const part2 = await client.uploadPart('parts/small.bin', uploadId, 2, Buffer.alloc(10), 0, 10);

    const error = await rejectionOf(
      client.completeMultipartUpload('parts/small.bin', uploadId, [
        { number: 1, etag: part1.etag },
        { number: 2, etag: part2.etag },
      ]),
    );

    expect(error.status).toBe(400);
    expect(error.code).toBe('EntityTooSmall');
  });

  it('rejects parts out of order', async () => {
    // ali-oss sorts the part list itself, so this request is built and signed by hand.
    const { uploadId } = await client.initMultipartUpload('parts/order.bin');
    const part1 = await client.uploadPart('parts/order.bin', uploadId, 1, Buffer.alloc(100 * 1024), 0, 100 * 1024);
    const part2 = await client.uploadPart('parts/order.bin', uploadId, 2, Buffer.alloc(10), 0, 10);
    const xml =
      '<CompleteMultipartUpload>' +
      `<Part><PartNumber>2</PartNumber><ETag>${part2.etag}</ETag></Part>` +
      `<Part><PartNumber>1</PartNumber><ETag>${part1.etag}</ETag></Part>` +
      '</CompleteMultipartUpload>';
    const resource = `/${BUCKET}/parts/order.bin?uploadId=${uploadId}`;
    const headers = signedHeaders(userKey, 'POST', resource, { 'x-oss-date': new Date().toUTCString() });

    const response = await sendRaw(oss, 'POST', resource, headers, Buffer.from(xml));

    expect(response.status).toBe(400);
    expect(xmlElement(response.body, 'Code')).toBe('InvalidPartOrder');
  });

  it('rejects a body that does not match Content-MD5', async () => {
    const headers = { 'x-oss-date': new Date().toUTCString(), 'content-md5': createHash('md5').update('other').digest('base64') };
    const signed = signedHeaders(userKey, 'PUT', `/${BUCKET}/digest.txt`, headers);

    const response = await sendRaw(oss, 'PUT', `/${BUCKET}/digest.txt`, signed, Buffer.from('body'));

    expect(response.status).toBe(400);
    expect(xmlElement(response.body, 'Code')).toBe('InvalidDigest');
    expect(oss.getObjectDirect(BUCKET, 'digest.txt')).toBeUndefined();
  });

  describe('denied read access', () => {
    let reader: AccessKeyRecord;
    let readerClient: OSS;

    beforeAll(async () => {
      reader = credentials.createAccessKey();
      readerClient = clientFor(oss, reader);
      await oss.putObjectDirect(BUCKET, 'denied/source.bin', Buffer.from('secret'));
      oss.denyRead(BUCKET, reader.accessKeyId);
    });

    afterAll(() => {
      oss.allowRead(BUCKET, reader.accessKeyId);
    });

    it('rejects GetObject', async () => {
      const error = await rejectionOf(readerClient.get('denied/source.bin'));

      expect(error.status).toBe(403);
      expect(error.code).toBe('AccessDenied');
    });

    it('rejects HeadObject through x-oss-err', async () => {
      const error = await rejectionOf(readerClient.head('denied/source.bin'));

      expect(error.status).toBe(403);
      expect(error.code).toBe('AccessDenied');
    });

    it('rejects a copy from the bucket', async () => {
      const error = await rejectionOf(readerClient.copy('denied/copy.bin', 'denied/source.bin'));

      expect(error.code).toBe('AccessDenied');
      expect(oss.getObjectDirect(BUCKET, 'denied/copy.bin')).toBeUndefined();
    });

    it('still accepts writes', async () => {
      await readerClient.put('denied/written.txt', Buffer.from('ok'), aliOptions({}));

      expect(oss.getObjectDirect(BUCKET, 'denied/written.txt')?.body.toString()).toBe('ok');
    });

    it('leaves other keys readable', async () => {
      const result = await client.get('denied/source.bin');

      expect(Buffer.from(result.content as Buffer).toString()).toBe('secret');
    });
  });
});
