import OSS from 'ali-oss';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CredentialStore, type AccessKeyRecord } from '../../local/common/credentials';
import { closeServer, listenOnLoopback, readBody } from '../../local/common/http';
import { authenticate } from '../../local/oss/auth';
import { OssServiceError } from '../../local/oss/errors';
import { presignV1Url, v1Signature, v1StringToSign } from '../../local/oss/sign-v1';
import { v4CanonicalRequest, v4Scope, v4Signature, v4StringToSign } from '../../local/oss/sign-v4';
import { parseTarget } from '../../local/oss/target';

const HOST = 'examplebucket.oss-cn-hangzhou.aliyuncs.com';

/** Casts a plain options object to an ali-oss option type, whose @types declaration marks optional fields as required. */
function aliOptions<T>(options: object): T {
  return options as T;
}

function request(method: string, url: string, headers: IncomingHttpHeaders) {
  return { method, headers, target: parseTarget(url, HOST) };
}

// The expected strings below were written out by hand from the OSS V1 and V4 signature rules, and the expected
// signatures were computed from those strings with `openssl dgst` (HMAC-SHA1 in base64, and the HMAC-SHA256
// chain in hex) under the fixed test secret "testSecret".
describe('v1StringToSign', () => {
  it('matches a hand-derived PUT vector', () => {
    const put = request('PUT', '/nelson', {
      'content-md5': 'eB5eJF1ptWaXm4bijSPyxw==',
      'content-type': 'text/html',
      'x-oss-date': 'Wed, 28 Dec 2022 10:27:41 GMT',
      'x-oss-meta-magic': 'abracadabra',
      'x-oss-meta-author': 'foo@example.com',
    });

    const stringToSign = v1StringToSign(put, 'Wed, 28 Dec 2022 10:27:41 GMT');

    expect(stringToSign).toBe(
      'PUT\neB5eJF1ptWaXm4bijSPyxw==\ntext/html\nWed, 28 Dec 2022 10:27:41 GMT\n' +
        'x-oss-date:Wed, 28 Dec 2022 10:27:41 GMT\nx-oss-meta-author:foo@example.com\nx-oss-meta-magic:abracadabra\n' +
        '/examplebucket/nelson',
    );
    expect(v1Signature('testSecret', stringToSign)).toBe('speCBCUuNd9jIK4SR3BdKzUB6cU=');
  });

  it('signs raw UTF-8 bytes and only sub-resources', () => {
    // Node decodes header bytes as latin1, so the UTF-8 "Köln" arrives as "KÃ¶ln".
    const get = request('GET', '/f%C3%BC%20r%2Bx.txt?uploadId=ABC&prefix=ignored&partNumber=2', {
      'x-oss-date': 'Wed, 28 Dec 2022 10:27:41 GMT',
      'x-oss-meta-city': Buffer.from('Köln', 'utf8').toString('latin1'),
    });

    const stringToSign = v1StringToSign(get, 'Wed, 28 Dec 2022 10:27:41 GMT');

    expect(Buffer.from(stringToSign, 'latin1').toString('utf8')).toBe(
      'GET\n\n\nWed, 28 Dec 2022 10:27:41 GMT\nx-oss-date:Wed, 28 Dec 2022 10:27:41 GMT\nx-oss-meta-city:Köln\n' +
        '/examplebucket/fü r+x.txt?partNumber=2&uploadId=ABC',
    );
    expect(v1Signature('testSecret', stringToSign)).toBe('rLgeBc5eE94UgNSRqzx3WogvBOA=');
  });
});

describe('presignV1Url', () => {
  it('matches a hand-derived vector', () => {
    const url = new URL(
      presignV1Url({
        baseUrl: 'http://127.0.0.1:9',
        bucket: 'examplebucket',
        key: 'dir/report.zip',
        expiresAtSeconds: 1_700_000_000,
        credentials: { accessKeyId: 'testAKID', accessKeySecret: 'testSecret', securityToken: 'tok123' },
      }),
    );

    expect(url.pathname).toBe('/examplebucket/dir/report.zip');
    expect(url.searchParams.get('Signature')).toBe('uv917puzx4NKG+8A25p27Z4RJqM=');
    expect(url.searchParams.get('security-token')).toBe('tok123');
  });

  it('signs as ali-oss signatureUrl does', () => {
    const client = new OSS({
      accessKeyId: 'testAKID',
      accessKeySecret: 'testSecret',
      bucket: 'examplebucket',
      region: 'oss-cn-hangzhou',
      endpoint: 'http://localhost:9',
    });
    const aliUrl = new URL(client.signatureUrl('dir/a b+c(1).zip', { expires: 600 }));
    const expires = Number(aliUrl.searchParams.get('Expires'));

    const ours = new URL(
      presignV1Url({
        baseUrl: 'http://127.0.0.1:9',
        bucket: 'examplebucket',
        key: 'dir/a b+c(1).zip',
        expiresAtSeconds: expires,
        credentials: { accessKeyId: 'testAKID', accessKeySecret: 'testSecret' },
      }),
    );

    expect(ours.searchParams.get('Signature')).toBe(aliUrl.searchParams.get('Signature'));
  });
});

describe('v4CanonicalRequest', () => {
  const put = request('PUT', '/dir/a%20b%281%29.txt?uploadId=ABC&partNumber=1', {
    host: HOST,
    'content-type': 'text/plain',
    'x-oss-content-sha256': 'UNSIGNED-PAYLOAD',
    'x-oss-date': '20231201T120000Z',
    'x-oss-meta-owner': '  alice ',
    'user-agent': 'not signed',
  });

  it('matches a hand-derived vector', () => {
    expect(v4CanonicalRequest(put, ['host'])).toBe(
      'PUT\n/examplebucket/dir/a%20b%281%29.txt\npartNumber=1&uploadId=ABC\n' +
        `content-type:text/plain\nhost:${HOST}\nx-oss-content-sha256:UNSIGNED-PAYLOAD\n` +
        'x-oss-date:20231201T120000Z\nx-oss-meta-owner:alice\n\nhost\nUNSIGNED-PAYLOAD',
    );
  });

  it('gives the hand-derived signature', () => {
    const stringToSign = v4StringToSign('20231201T120000Z', v4Scope('20231201', 'cn-hangzhou'), v4CanonicalRequest(put, ['host']));

    expect(stringToSign.split('\n').at(-1)).toBe('570380a3b36a4f25d198652ad5038ff48614b6b5721915cd7914105256bdca5f');
    expect(v4Signature('testSecret', '20231201', 'cn-hangzhou', stringToSign)).toBe(
      '82f2eccc7d7a7ea0d56ead1f25ba285fe07297acf7e25ed8bed44a256a9cbc4a',
    );
  });

  it('writes an empty query value as the bare name', () => {
    const init = request('POST', '/k.zip?uploads=', { 'x-oss-date': '20231201T120000Z' });

    expect(v4CanonicalRequest(init, []).split('\n')[2]).toBe('uploads');
  });
});

/** A request as it reached a loopback server, to be checked by the emulator's verifier. */
interface CapturedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

describe('authenticate', () => {
  const credentials = new CredentialStore();
  const captured: CapturedRequest[] = [];
  let server: Server;
  let endpoint: string;

  beforeAll(async () => {
    // Replies to every request with 204 or 200, an ETag and a small XML body, so that each ali-oss call succeeds.
    server = createServer(async (incoming, response) => {
      await readBody(incoming);
      captured.push({ method: incoming.method ?? '', url: incoming.url ?? '', headers: incoming.headers });
      response.setHeader('etag', '"0123456789ABCDEF0123456789ABCDEF"');
      response.setHeader('content-type', 'application/xml');
      response.statusCode = incoming.method === 'DELETE' ? 204 : 200;
      response.end('<InitiateMultipartUploadResult><UploadId>U1</UploadId></InitiateMultipartUploadResult>');
    });
    endpoint = (await listenOnLoopback(server)).url;
  });

  afterAll(async () => {
    await closeServer(server);
  });

  /** Runs typical ali-oss calls and returns what went over the wire. */
  async function captureCalls(client: OSS): Promise<CapturedRequest[]> {
    captured.length = 0;
    const key = 'dir/a b+c(1)!~*\'报告.zip';
    await client.put(key, Buffer.from('hello'), aliOptions({ meta: { job: 'j-1' } }));
    await client.putStream('stream.bin', Readable.from([Buffer.from('chunked')]));
    await client.get(key, { headers: { Range: 'bytes=0-1' } });
    await client.head(key);
    await client.listV2({ prefix: 'dir/', 'max-keys': '2', 'continuation-token': 'abc=' } as OSS.ListV2ObjectsQuery);
    const { uploadId } = await client.initMultipartUpload('big.bin', { headers: { 'x-oss-forbid-overwrite': 'true' } });
    await client.uploadPart('big.bin', uploadId, 1, Buffer.alloc(16, 1), 0, 16);
    await client.completeMultipartUpload('big.bin', uploadId, [{ number: 1, etag: '"0123456789ABCDEF0123456789ABCDEF"' }]);
    await client.abortMultipartUpload('big.bin', uploadId);
    await client.copy('copy.zip', key);
    await client.delete(key);
    return [...captured];
  }

  function clientFor(key: AccessKeyRecord, options: { v4: boolean; headerEncoding?: string }): OSS {
    const token = key.securityToken;
    return new OSS({
      accessKeyId: key.accessKeyId,
      accessKeySecret: key.accessKeySecret,
      bucket: 'mybucket',
      region: 'oss-cn-shanghai',
      endpoint,
      authorizationV4: options.v4,
      ...(options.headerEncoding === undefined ? {} : { headerEncoding: options.headerEncoding }),
      ...(token === undefined
        ? {}
        : {
            stsToken: token,
            refreshSTSToken: async () => ({ accessKeyId: key.accessKeyId, accessKeySecret: key.accessKeySecret, stsToken: token }),
            refreshSTSTokenInterval: 3_600_000,
          }),
    } as OSS.Options);
  }

  function verify(capture: CapturedRequest): string {
    const target = parseTarget(capture.url, capture.headers.host);
    return authenticate({ method: capture.method, headers: capture.headers, target }, credentials, Date.now());
  }

  for (const v4 of [false, true]) {
    const version = v4 ? 'V4' : 'V1';

    it(`accepts every ali-oss ${version} request with a long-lived key`, async () => {
      const key = credentials.createAccessKey();
      const requests = await captureCalls(clientFor(key, { v4 }));

      expect(requests).toHaveLength(11);
      for (const capture of requests) expect(verify(capture), `${capture.method} ${capture.url}`).toBe(key.accessKeyId);
    });

    it(`accepts every ali-oss ${version} request with an STS token`, async () => {
      const key = credentials.issueStsCredentials();
      const requests = await captureCalls(clientFor(key, { v4 }));

      for (const capture of requests) expect(verify(capture), `${capture.method} ${capture.url}`).toBe(key.accessKeyId);
    });

    it(`verifies raw UTF-8 header bytes (${version})`, async () => {
      const key = credentials.createAccessKey();
      captured.length = 0;
      await clientFor(key, { v4, headerEncoding: 'latin1' }).put('k.txt', Buffer.from('x'), aliOptions({
        meta: { city: 'Köln 北京' },
      }));

      expect(captured[0]!.headers['x-oss-meta-city']).toBe(Buffer.from('Köln 北京', 'utf8').toString('latin1'));
      expect(verify(captured[0]!)).toBe(key.accessKeyId);
    });

    it(`rejects a header changed after signing (${version})`, async () => {
      const key = credentials.createAccessKey();
      captured.length = 0;
      await clientFor(key, { v4 }).put('k.txt', Buffer.from('x'), aliOptions({ meta: { job: 'j-1' } }));
      const tampered = { ...captured[0]!, headers: { ...captured[0]!.headers, 'x-oss-meta-job': 'j-2' } };

      expect(() => verify(tampered)).toThrow(OssServiceError);
      expect(() => verify(tampered)).toThrow(expect.objectContaining({ code: 'SignatureDoesNotMatch', status: 403 }));
    });
  }

  it('accepts an ali-oss V4 presigned URL', async () => {
    const key = credentials.createAccessKey();
    const client = new OSS({
      accessKeyId: key.accessKeyId,
      accessKeySecret: key.accessKeySecret,
      bucket: 'mybucket',
      region: 'oss-cn-shanghai',
      endpoint: 'http://localhost:9',
    });
    const url = new URL(await client.signatureUrlV4('GET', 600, {}, 'dir/report.zip'));
    const target = parseTarget(`${url.pathname}${url.search}`, 'mybucket.oss-cn-shanghai.aliyuncs.com');

    expect(authenticate({ method: 'GET', headers: {}, target }, credentials, Date.now())).toBe(key.accessKeyId);
  });
});
