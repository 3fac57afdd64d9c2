import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CredentialStore, type AccessKeyRecord } from '../../local/common/credentials';
import {
  acs3CanonicalRequest,
  acs3Signature,
  acs3StringToSign,
  sha256Hex,
  startImsEmulator,
  type ImsEmulator,
} from '../../local/ims';
import { callImsAction, createImsSdkClient, type ImsSdkClientOptions } from '../fixtures/ims/sdk-client';

let credentials: CredentialStore;
let ims: ImsEmulator;

beforeAll(async () => {
  credentials = new CredentialStore();
  ims = await startImsEmulator({ credentials });
  ims.createJob({ jobId: 'job-auth', script: [{ status: 'Success' }] });
});

afterEach(() => {
  ims.setClockOffset(0);
});

afterAll(async () => {
  await ims.close();
});

const SCHEMES = [
  { scheme: 'ACS3-HMAC-SHA256', legacySignature: false },
  { scheme: 'HMAC-SHA1 v1', legacySignature: true },
];

async function getJobAs(key: AccessKeyRecord, options: Partial<ImsSdkClientOptions> = {}, jobId = 'job-auth'): Promise<Record<string, unknown>> {
  const client = createImsSdkClient({ endpoint: `127.0.0.1:${ims.port}`, ...key, ...options });
  const response = await callImsAction(client, 'GetProjectExportJob', { JobId: jobId });
  return response.body['ProjectExportJob'] as Record<string, unknown>;
}

async function rejectionOf(call: Promise<unknown>): Promise<{ code?: string; statusCode?: number; message: string }> {
  try {
    await call;
  } catch (error) {
    return error as { code?: string; statusCode?: number; message: string };
  }
  throw new Error('the call succeeded');
}

describe.each(SCHEMES)('IMS emulator with $scheme', ({ legacySignature }) => {
  it('accepts a long-lived AccessKey', async () => {
    const job = await getJobAs(credentials.createAccessKey(), { legacySignature });
    expect(job['Status']).toBe('Success');
  });

  it('accepts an STS token', async () => {
    const job = await getJobAs(credentials.issueStsCredentials(), { legacySignature });
    expect(job['Status']).toBe('Success');
  });

  it('signs reserved characters in the query', async () => {
    const jobId = `odd ${randomBytes(4).toString('hex')} *()!'~+/=&é`;
    ims.createJob({ jobId, script: [{ status: 'Init' }] });

    const job = await getJobAs(credentials.createAccessKey(), { legacySignature }, jobId);

    expect(job['JobId']).toBe(jobId);
  });

  it('signs parameters sent as a form', async () => {
    const client = createImsSdkClient({ endpoint: `127.0.0.1:${ims.port}`, ...credentials.createAccessKey(), legacySignature });
    const form = { ProjectId: 'project-form', ExportType: 'BaseTimeline', OutputMediaConfig: '{"Bucket":"b"}' };

    const response = await callImsAction(client, 'SubmitProjectExportJob', {}, { form });

    expect(response.body['JobId']).toMatch(/^[0-9a-f]{32}$/);
  });

  it('rejects a wrong secret', async () => {
    const key = { ...credentials.createAccessKey(), accessKeySecret: 'not-the-secret' };

    const error = await rejectionOf(getJobAs(key, { legacySignature }));

    expect(error.code).toBe('SignatureDoesNotMatch');
    expect(error.statusCode).toBe(400);
    expect(error.message).toContain('string to sign');
  });

  it('rejects an unknown AccessKey', async () => {
    const key = credentials.createAccessKey();
    credentials.revoke(key.accessKeyId);

    const error = await rejectionOf(getJobAs(key, { legacySignature }));

    expect(error.code).toBe('InvalidAccessKeyId.NotFound');
    expect(error.statusCode).toBe(404);
  });

  it('rejects an expired STS token', async () => {
    const key = credentials.issueStsCredentials();
    credentials.expire(key.accessKeyId);

    const error = await rejectionOf(getJobAs(key, { legacySignature }));

    expect(error.code).toBe('InvalidSecurityToken.Expired');
    expect(error.statusCode).toBe(400);
  });

  it('rejects an STS key without its token', async () => {
    const { securityToken: _omitted, ...key } = credentials.issueStsCredentials();
    const error = await rejectionOf(getJobAs(key, { legacySignature }));
    expect(error.code).toBe('MissingSecurityToken');
  });

  it('rejects a clock 20 minutes off', async () => {
    ims.setClockOffset(20 * 60_000);

    const error = await rejectionOf(getJobAs(credentials.createAccessKey(), { legacySignature }));

    expect(error.code).toBe('InvalidTimeStamp.Expired');
    expect(error.statusCode).toBe(400);
  });

  it('tolerates a clock 10 minutes off', async () => {
    ims.setClockOffset(-10 * 60_000);
    const job = await getJobAs(credentials.createAccessKey(), { legacySignature });
    expect(job['Status']).toBe('Success');
  });
});

interface RawResponse {
  status: number;
  body: Record<string, unknown>;
}

/** Builds the headers of an ACS3-signed GetProjectExportJob request with the signing functions. */
function signedHeaders(key: AccessKeyRecord, jobId: string): Record<string, string> {
  const headers: Record<string, string> = {
    host: `127.0.0.1:${ims.port}`,
    'x-acs-action': 'GetProjectExportJob',
    'x-acs-version': '2020-11-09',
    'x-acs-date': new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    'x-acs-signature-nonce': randomBytes(16).toString('hex'),
    'x-acs-content-sha256': sha256Hex(''),
  };
  const names = Object.keys(headers).sort();
  const canonical = acs3CanonicalRequest({
    method: 'POST',
    path: '/',
    query: [['JobId', jobId]],
    headers,
    signedHeaders: names,
    payloadHash: sha256Hex(''),
  });
  const signature = acs3Signature(acs3StringToSign(canonical), key.accessKeySecret);
  headers['authorization'] = `ACS3-HMAC-SHA256 Credential=${key.accessKeyId},SignedHeaders=${names.join(';')},Signature=${signature}`;
  return headers;
}

function sendRaw(headers: Record<string, string>, jobId: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      { host: '127.0.0.1', port: ims.port, method: 'POST', path: `/?JobId=${encodeURIComponent(jobId)}`, headers },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end();
  });
}

describe('IMS emulator with raw requests', () => {
  it('accepts an untampered request', async () => {
    const response = await sendRaw(signedHeaders(credentials.createAccessKey(), 'job-auth'), 'job-auth');
    expect(response.status).toBe(200);
  });

  it('rejects a tampered signed header', async () => {
    const headers = signedHeaders(credentials.createAccessKey(), 'job-auth');
    headers['x-acs-action'] = 'SubmitProjectExportJob';

    const response = await sendRaw(headers, 'job-auth');

    expect(response.status).toBe(400);
    expect(response.body['Code']).toBe('SignatureDoesNotMatch');
  });

  it('rejects a tampered query', async () => {
    const headers = signedHeaders(credentials.createAccessKey(), 'job-auth');
    const response = await sendRaw(headers, 'job-other');
    expect(response.body['Code']).toBe('SignatureDoesNotMatch');
  });

  it('rejects an unsigned x-acs header', async () => {
    const headers = { ...signedHeaders(credentials.createAccessKey(), 'job-auth'), 'x-acs-extra': 'added' };
    const response = await sendRaw(headers, 'job-auth');
    expect(response.body['Code']).toBe('IncompleteSignature');
  });

  it('rejects a replayed nonce', async () => {
    const headers = signedHeaders(credentials.createAccessKey(), 'job-auth');
    await sendRaw(headers, 'job-auth');

    const replay = await sendRaw(headers, 'job-auth');

    expect(replay.status).toBe(400);
    expect(replay.body['Code']).toBe('SignatureNonceUsed');
  });

  it('sends the POP error fields', async () => {
    const headers = signedHeaders(credentials.createAccessKey(), 'job-auth');
    headers['x-acs-action'] = 'SubmitProjectExportJob';

    const response = await sendRaw(headers, 'job-auth');

    expect(Object.keys(response.body).sort()).toEqual(['Code', 'HostId', 'Message', 'Recommend', 'RequestId']);
    expect(response.body['HostId']).toBe(`127.0.0.1:${ims.port}`);
  });
});
