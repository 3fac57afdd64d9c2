/**
 * OSS requests written with nothing but `node:http` and `node:crypto`: the baseline copy and the setup of
 * the benchmarks use them, so that no SDK code runs in the baseline process.
 *
 * Requests carry an OSS V1 header signature: `Authorization: OSS <AccessKeyId>:<Signature>`, where the
 * signature is the base64 HMAC-SHA1 of
 * `VERB \n Content-MD5 \n Content-Type \n Date \n CanonicalizedOSSHeaders CanonicalizedResource`.
 * Only path-style requests to an ASCII key without sub-resources are built here.
 */
import { createHmac } from 'node:crypto';
import http, { type IncomingMessage } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';

export interface AccessKey {
  accessKeyId: string;
  accessKeySecret: string;
}

export interface ObjectAddress {
  /** Base URL of the OSS endpoint, such as `http://127.0.0.1:41234`. */
  endpoint: string;
  bucket: string;
  key: string;
}

/** ETag and checksum OSS returned for a stored object. */
export interface PutResult {
  etag: string;
  /** `x-oss-hash-crc64ecma`: CRC-64/XZ of the stored bytes as an unsigned decimal. */
  crc64: string;
}

/** Returns the V1 `Authorization` value of a request without `x-oss-*` headers or sub-resources. */
export function v1Authorization(key: AccessKey, request: { method: string; contentType: string; date: string; bucket: string; objectKey: string }): string {
  const stringToSign = [request.method, '', request.contentType, request.date, `/${request.bucket}/${request.objectKey}`].join('\n');
  const signature = createHmac('sha1', key.accessKeySecret).update(stringToSign, 'utf8').digest('base64');
  return `OSS ${key.accessKeyId}:${signature}`;
}

/**
 * Streams `body` (exactly `size` bytes) into an object with one PutObject, as plain `http.request` does it.
 *
 * @throws {Error} when OSS responds with a status other than 200, naming the status and OSS's error code.
 */
export async function putObjectStream(address: ObjectAddress, key: AccessKey, body: Readable, size: number): Promise<PutResult> {
  const contentType = 'application/zip';
  const date = new Date().toUTCString();
  const request = http.request(objectUrl(address), {
    method: 'PUT',
    headers: {
      'content-type': contentType,
      'content-length': String(size),
      date,
      authorization: v1Authorization(key, { method: 'PUT', contentType, date, bucket: address.bucket, objectKey: address.key }),
    },
  });
  const responded = new Promise<IncomingMessage>((resolve, reject) => {
    request.once('response', resolve);
    request.once('error', reject);
  });

  await pipeline(body, request);
  const response = await responded;
  await expectStatus(response, 200, `PutObject ${address.bucket}/${address.key}`);
  return { etag: String(response.headers.etag ?? ''), crc64: String(response.headers['x-oss-hash-crc64ecma'] ?? '') };
}

/** Deletes an object. OSS returns 204 whether or not it existed. */
export async function deleteObject(address: ObjectAddress, key: AccessKey): Promise<void> {
  const date = new Date().toUTCString();
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    const request = http.request(objectUrl(address), {
      method: 'DELETE',
      headers: { date, authorization: v1Authorization(key, { method: 'DELETE', contentType: '', date, bucket: address.bucket, objectKey: address.key }) },
    });
    request.once('response', resolve);
    request.once('error', reject);
    request.end();
  });
  await expectStatus(response, 204, `DeleteObject ${address.bucket}/${address.key}`);
}

function objectUrl(address: ObjectAddress): string {
  if (!/^[\x21-\x7e]+$/.test(address.key)) throw new Error(`Key "${address.key}" is not supported by this signer: use printable ASCII without spaces`);
  const path = address.key.split('/').map(encodeURIComponent).join('/');
  return `${address.endpoint}/${encodeURIComponent(address.bucket)}/${path}`;
}

async function expectStatus(response: IncomingMessage, expected: number, operation: string): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  if (response.statusCode === expected) return;

  const code = /<Code>([^<]*)<\/Code>/.exec(Buffer.concat(chunks).toString('utf8'))?.[1] ?? 'no error code';
  throw new Error(`${operation} failed with HTTP ${response.statusCode} (${code})`);
}
