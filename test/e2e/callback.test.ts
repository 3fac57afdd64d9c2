/**
 * The callback function end to end: the bundle from dist/callback behind a local FC HTTP trigger, IMS,
 * OSS and the FC invoke API emulated on 127.0.0.1, and the bundled worker and poller where a test needs
 * the job finished.
 *
 * A bundle reads its settings once, at its first invocation. Each `describe` therefore loads fresh copies
 * of the callback and poller bundles after it has set the environment it tests.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { crc64 } from '../../lib/crc64';
import type { FcHttpEvent, FcHttpResponse } from '../../lib/fc-types';
import { DESTINATION_BUCKET, EXPORT_BUCKET, startLocalCloud, type LocalCloud } from '../../local/cloud';
import type { HttpTrigger } from '../../local/fc/http-trigger';
import { iceCallbackSignature, sendIceCallback } from '../../local/ims';
import { jobKeys, jsonEvent, loadBundledHandler, readJson, readObject, type CallbackHandler, type Handler } from './helpers';

const WORKER_FUNCTION = 'ims-export-sync-worker';
const STATE_PREFIX = 'ims-exports/.state/';
const SETTING_NAMES = ['CALLBACK_AUTH_KEYS', 'CALLBACK_URL', 'CALLBACK_TOKEN', 'CALLBACK_AUTH', 'WORKER_FUNCTION'];

interface CallbackBody {
  accepted?: boolean;
  mode?: string;
  jobId?: string;
  error?: string;
  outcome?: { outcome: string };
}

interface TickSummary {
  jobs: { jobId: string; outcome: string }[];
}

let cloud: LocalCloud;
let trigger: HttpTrigger;
let callbackUrl: string;
let callback: CallbackHandler;
let poller: Handler<TickSummary>;
// Secrets of this run only, generated like the emulators' keys so that none is ever stored in the repository.
const oldAuthKey = randomBytes(12).toString('hex');
const newAuthKey = randomBytes(12).toString('hex');
const callbackToken = randomBytes(16).toString('hex');

/** Sets the callback settings of the next `describe` and loads the callback and poller bundles with them. */
function useSettings(overrides: Record<string, string>): void {
  for (const name of SETTING_NAMES) delete process.env[name];
  Object.assign(process.env, cloud.env({ LOG_LEVEL: 'error', ...overrides }));
  callback = loadBundledHandler<FcHttpResponse>('callback', { fresh: true });
  poller = loadBundledHandler<TickSummary>('poller', { fresh: true });
}

const SIGNED_SETTINGS = (): Record<string, string> => ({
  CALLBACK_AUTH_KEYS: `${oldAuthKey}, ${newAuthKey}`,
  CALLBACK_URL: callbackUrl,
  CALLBACK_TOKEN: callbackToken,
});

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** X-ICE-* headers as IMS sends them, signed over CALLBACK_URL. */
function iceHeaders(authKey: string, timestampSeconds = nowSeconds()): Record<string, string> {
  return { 'X-ICE-TIMESTAMP': String(timestampSeconds), 'X-ICE-SIGNATURE': iceCallbackSignature(callbackUrl, timestampSeconds, authKey) };
}

interface PostOptions {
  method?: string;
  query?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

/** Sends one HTTP request through the trigger and returns the status, the parsed body and the headers. */
async function request(options: PostOptions): Promise<{ status: number; body: CallbackBody; headers: Headers }> {
  const method = options.method ?? 'POST';
  const response = await fetch(`${callbackUrl}${options.query ?? ''}`, {
    method,
    headers: { 'content-type': 'application/json', ...options.headers },
    ...(method === 'GET' || method === 'HEAD' ? {} : { body: options.body ?? '' }),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? {} : (JSON.parse(text) as CallbackBody), headers: response.headers };
}

function envelope(jobId: unknown): string {
  return JSON.stringify({ EventType: 'ProjectExportComplete', UserId: 1234567890123456, EventTime: '2024-01-01T00:00:00Z', MessageBody: { JobId: jobId } });
}

/** An FC 3.0 HTTP event for a direct handler call, for bodies the trigger would encode differently. */
function httpEvent(fields: { body: string; isBase64Encoded: boolean; headers?: Record<string, string>; method?: string }): Buffer {
  const event: FcHttpEvent = {
    version: 'v1',
    rawPath: '/callback',
    headers: { 'Content-Type': 'application/json', ...fields.headers },
    queryParameters: {},
    body: fields.body,
    isBase64Encoded: fields.isBase64Encoded,
    requestContext: {
      accountId: cloud.accountId,
      domainName: '127.0.0.1',
      domainPrefix: '',
      requestId: 'direct-call',
      time: new Date().toISOString(),
      timeEpoch: String(Date.now()),
      http: { method: fields.method ?? 'POST', path: '/callback', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
    },
  };
  return jsonEvent(event);
}

async function callDirectly(event: Buffer): Promise<{ status: number; body: CallbackBody }> {
  const response = await callback(event, cloud.context('ims-export-sync-callback', { timeoutSeconds: 30 }));
  return { status: response.statusCode, body: JSON.parse(response.body) as CallbackBody };
}

/** Lists every key in the destination bucket, the ledger included. */
function bucketKeys(): string[] {
  return cloud.oss.listKeys(DESTINATION_BUCKET);
}

function ledgerKeys(jobId: string): string[] {
  return cloud.oss.listKeys(DESTINATION_BUCKET, STATE_PREFIX).filter((key) => key.endsWith(`_${jobId}`) || key.endsWith(`/${jobId}.json`));
}

/** Counts the requests that created an object at `key`, whatever API wrote it. */
function completedWrites(key: string): number {
  const writes = new Set(['PutObject', 'CopyObject', 'CompleteMultipartUpload']);
  return cloud.oss.requests.entries.filter((entry) => writes.has(entry.operation) && entry.status === 200 && entry.detail?.key === key).length;
}

function imsCalls(jobId: string): number {
  return cloud.ims.requests.entries.filter((entry) => entry.operation === 'GetProjectExportJob' && entry.detail?.jobId === jobId).length;
}

function tick(): Promise<TickSummary> {
  const event = { triggerTime: new Date().toISOString(), triggerName: 'poll', payload: '' };
  return poller(jsonEvent(event), cloud.context('ims-export-sync-poller', { timeoutSeconds: 300 }));
}

/** Moves the clock past any backoff the ledger may have chosen, as a later timer tick would see it. */
function advanceClock(minutes: number): void {
  vi.setSystemTime(Date.now() + minutes * 60_000);
}

function timelineJob(jobId: string, status: 'Success' | 'Processing' = 'Success'): void {
  cloud.ims.createJob({ jobId, script: [{ status }] });
}

beforeAll(async () => {
  cloud = await startLocalCloud();
  // The trigger calls whichever callback bundle the current `describe` loaded.
  trigger = await cloud.httpTrigger('ims-export-sync-callback', (event, context) => callback(event, context));
  callbackUrl = `${trigger.url}/ims/callback`;
  Object.assign(process.env, cloud.env({ LOG_LEVEL: 'error' }));
  cloud.fc.register(WORKER_FUNCTION, loadBundledHandler('worker'), { timeoutSeconds: 600 });
});

afterAll(async () => {
  await cloud.close();
  for (const name of SETTING_NAMES) delete process.env[name];
});

afterEach(async () => {
  vi.useRealTimers();
  cloud.fc.faults.clear();
  cloud.oss.faults.clear();
  await cloud.fc.drain();
});

describe('callback rejections', () => {
  const jobId = 'callback-rejected-job';

  beforeAll(() => {
    useSettings(SIGNED_SETTINGS());
    timelineJob(jobId);
  });

  const cases: { name: string; status: number; options: () => PostOptions }[] = [
    { name: 'no credentials', status: 401, options: () => ({ body: envelope(jobId) }) },
    { name: 'signature of an unknown key', status: 401, options: () => ({ headers: iceHeaders('not-a-configured-key'), body: envelope(jobId) }) },
    { name: 'signature without timestamp', status: 401, options: () => ({ headers: { 'X-ICE-SIGNATURE': iceHeaders(newAuthKey)['X-ICE-SIGNATURE']! }, body: envelope(jobId) }) },
    { name: 'stale timestamp', status: 401, options: () => ({ headers: iceHeaders(newAuthKey, nowSeconds() - 301), body: envelope(jobId) }) },
    { name: 'future timestamp', status: 401, options: () => ({ headers: iceHeaders(newAuthKey, nowSeconds() + 3_600), body: envelope(jobId) }) },
    {
      name: 'timestamp in milliseconds',
      status: 401,
      options: () => ({ headers: { 'X-ICE-TIMESTAMP': String(Date.now()), 'X-ICE-SIGNATURE': iceHeaders(newAuthKey)['X-ICE-SIGNATURE']! }, body: envelope(jobId) }),
    },
    {
      name: 'signature over another URL',
      status: 401,
      options: () => {
        const timestamp = nowSeconds();
        return { headers: { 'X-ICE-TIMESTAMP': String(timestamp), 'X-ICE-SIGNATURE': iceCallbackSignature(`${trigger.url}/other`, timestamp, newAuthKey) }, body: envelope(jobId) };
      },
    },
    { name: 'wrong token in the query', status: 401, options: () => ({ query: `?token=${callbackToken.slice(1)}x`, body: envelope(jobId) }) },
    { name: 'wrong token in a header', status: 401, options: () => ({ headers: { 'X-Callback-Token': `${callbackToken}0` }, body: envelope(jobId) }) },
    { name: 'GET without credentials', status: 401, options: () => ({ method: 'GET' }) },
    { name: 'GET with a valid token', status: 405, options: () => ({ method: 'GET', query: `?token=${callbackToken}` }) },
    { name: 'PUT with a valid signature', status: 405, options: () => ({ method: 'PUT', headers: iceHeaders(newAuthKey), body: envelope(jobId) }) },
    {
      name: 'body of 65 KiB',
      status: 413,
      options: () => ({ headers: iceHeaders(newAuthKey), body: JSON.stringify({ JobId: jobId, padding: 'x'.repeat(65 * 1024) }) }),
    },
    { name: 'body that is not JSON', status: 400, options: () => ({ headers: iceHeaders(newAuthKey), body: `JobId=${jobId}` }) },
    { name: 'body that is not UTF-8', status: 400, options: () => ({ headers: iceHeaders(newAuthKey), body: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]) }) },
    { name: 'empty body', status: 400, options: () => ({ headers: iceHeaders(newAuthKey), body: '' }) },
    { name: 'JSON array', status: 400, options: () => ({ headers: iceHeaders(newAuthKey), body: JSON.stringify([{ JobId: jobId }]) }) },
    { name: 'envelope without JobId', status: 400, options: () => ({ headers: iceHeaders(newAuthKey), body: JSON.stringify({ EventType: 'x', MessageBody: { Status: 'Success' } }) }) },
    { name: 'flat body without JobId', status: 400, options: () => ({ query: `?token=${callbackToken}`, body: JSON.stringify({ job: jobId }) }) },
    { name: 'JobId that is a number', status: 400, options: () => ({ headers: iceHeaders(newAuthKey), body: envelope(12345) }) },
    { name: 'JobId with a path', status: 400, options: () => ({ headers: iceHeaders(newAuthKey), body: envelope('../x') }) },
    { name: 'JobId with control characters', status: 400, options: () => ({ headers: iceHeaders(newAuthKey), body: envelope('job\u0000\u001bid') }) },
    { name: 'JobId of 65 characters', status: 400, options: () => ({ headers: iceHeaders(newAuthKey), body: envelope('a'.repeat(65)) }) },
  ];

  it.each(cases)('rejects $name with $status', async ({ status, options }) => {
    const keysBefore = bucketKeys();
    const imsCallsBefore = cloud.ims.requests.count();

    const response = await request(options());

    expect(response.status).toBe(status);
    expect(response.body.error).toEqual(expect.any(String));
    expect(bucketKeys()).toEqual(keysBefore);
    expect(cloud.ims.requests.count()).toBe(imsCallsBefore);
    expect(cloud.fc.invocations).toHaveLength(0);
  });

  it('names POST in the Allow header', async () => {
    const response = await request({ method: 'GET', query: `?token=${callbackToken}` });

    expect(response.headers.get('allow')).toBe('POST');
  });

  it('rejects a base64 body that is not JSON', async () => {
    const keysBefore = bucketKeys();

    const response = await callDirectly(httpEvent({ body: Buffer.from([0x00, 0x9f, 0x92, 0x96]).toString('base64'), isBase64Encoded: true, headers: iceHeaders(newAuthKey) }));

    expect(response.status).toBe(400);
    expect(bucketKeys()).toEqual(keysBefore);
  });

  it('rejects a base64 body over 64 KiB', async () => {
    const keysBefore = bucketKeys();
    const body = Buffer.from(JSON.stringify({ JobId: jobId, padding: 'x'.repeat(64 * 1024) })).toString('base64');

    const response = await callDirectly(httpEvent({ body, isBase64Encoded: true, headers: iceHeaders(newAuthKey) }));

    expect(response.status).toBe(413);
    expect(bucketKeys()).toEqual(keysBefore);
  });

  it('rejects an unsigned direct event', async () => {
    const keysBefore = bucketKeys();

    const response = await callDirectly(httpEvent({ body: envelope(jobId), isBase64Encoded: false }));

    expect(response.status).toBe(401);
    expect(bucketKeys()).toEqual(keysBefore);
  });

  it('left the job untouched', () => {
    expect(jobKeys(cloud, jobId)).toEqual([]);
    expect(ledgerKeys(jobId)).toEqual([]);
    expect(imsCalls(jobId)).toBe(0);
  });
});

describe('callback accepting jobs inline', () => {
  beforeAll(() => {
    useSettings(SIGNED_SETTINGS());
  });

  it('accepts IMS signed with the old key', async () => {
    const jobId = 'callback-old-key';
    timelineJob(jobId);

    const delivery = await sendIceCallback({ url: callbackUrl, authKey: oldAuthKey, messageBody: { JobId: jobId, Status: 'Success' } });

    expect(delivery.attempts.map((attempt) => attempt.status)).toEqual([200]);
    expect(jobKeys(cloud, jobId)).toEqual([`ims-exports/${jobId}/manifest.json`, `ims-exports/${jobId}/timeline.json`]);
    expect(ledgerKeys(jobId)).toEqual([]);
  });

  it('accepts IMS signed with the new key', async () => {
    const jobId = 'callback-new-key';
    timelineJob(jobId);

    const delivery = await sendIceCallback({ url: callbackUrl, authKey: newAuthKey, messageBody: { JobId: jobId, Status: 'Success' } });

    expect(delivery.attempts.map((attempt) => attempt.status)).toEqual([200]);
    expect(readJson(cloud, `ims-exports/${jobId}/manifest.json`).result).toBe('copied');
  });

  it('accepts a timestamp inside the skew', async () => {
    const jobId = 'callback-skewed-clock';
    timelineJob(jobId);

    const response = await request({ headers: iceHeaders(newAuthKey, nowSeconds() - 250), body: envelope(jobId) });

    expect(response.status).toBe(200);
  });

  it.each([
    { name: 'query', options: (body: string): PostOptions => ({ query: `?token=${callbackToken}`, body }) },
    { name: 'header', options: (body: string): PostOptions => ({ headers: { 'x-callback-token': callbackToken }, body }) },
  ])('accepts the token in the $name', async ({ name, options }) => {
    const jobId = `callback-token-${name}`;
    timelineJob(jobId);

    const response = await request(options(JSON.stringify({ JobId: jobId })));

    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ accepted: true, mode: 'inline', jobId });
    expect(readJson(cloud, `ims-exports/${jobId}/manifest.json`).result).toBe('copied');
  });

  it.each([
    { name: 'envelope', body: (jobId: string) => envelope(jobId) },
    { name: 'flat JobId', body: (jobId: string) => JSON.stringify({ JobId: jobId }) },
    { name: 'flat jobId', body: (jobId: string) => JSON.stringify({ jobId }) },
    { name: 'padded JobId', body: (jobId: string) => JSON.stringify({ JobId: ` ${jobId}\n` }) },
  ])('accepts the $name body', async ({ name, body }) => {
    const jobId = `callback-body-${name.replace(/ /g, '-')}`;
    timelineJob(jobId);

    const response = await request({ headers: iceHeaders(newAuthKey), body: body(jobId) });

    expect(response.status).toBe(200);
    expect(response.body.jobId).toBe(jobId);
    expect(jobKeys(cloud, jobId)).toContain(`ims-exports/${jobId}/manifest.json`);
  });

  it('accepts a body of exactly 64 KiB', async () => {
    const jobId = 'callback-body-at-limit';
    timelineJob(jobId);
    const unpadded = JSON.stringify({ JobId: jobId, padding: '' });
    const body = JSON.stringify({ JobId: jobId, padding: 'x'.repeat(64 * 1024 - unpadded.length) });
    expect(Buffer.byteLength(body)).toBe(64 * 1024);

    const response = await request({ headers: iceHeaders(newAuthKey), body });

    expect(response.status).toBe(200);
  });

  it('rejects a body one byte over 64 KiB', async () => {
    const keysBefore = bucketKeys();
    const unpadded = JSON.stringify({ JobId: 'callback-body-over-limit', padding: '' });
    const body = JSON.stringify({ JobId: 'callback-body-over-limit', padding: 'x'.repeat(64 * 1024 + 1 - unpadded.length) });

    const response = await request({ headers: iceHeaders(newAuthKey), body });

    expect(response.status).toBe(413);
    expect(bucketKeys()).toEqual(keysBefore);
  });

  it('accepts a base64 body', async () => {
    const jobId = 'callback-base64-body';
    timelineJob(jobId);

    const response = await callDirectly(httpEvent({ body: Buffer.from(envelope(jobId)).toString('base64'), isBase64Encoded: true, headers: iceHeaders(newAuthKey) }));

    expect(response.status).toBe(200);
    expect(jobKeys(cloud, jobId)).toContain(`ims-exports/${jobId}/manifest.json`);
  });

  it('accepts a repeated callback harmlessly', async () => {
    const jobId = 'callback-repeated';
    timelineJob(jobId);
    await request({ headers: iceHeaders(newAuthKey), body: envelope(jobId) });
    const manifestBefore = readObject(cloud, `ims-exports/${jobId}/manifest.json`);

    const response = await request({ headers: iceHeaders(newAuthKey), body: envelope(jobId) });

    expect(response.status).toBe(200);
    expect(response.body.outcome?.outcome).toBe('already-synced');
    expect(readObject(cloud, `ims-exports/${jobId}/manifest.json`)?.etag).toBe(manifestBefore?.etag);
    expect(ledgerKeys(jobId)).toEqual([]);
  });

  it('copies once for 20 concurrent duplicates', async () => {
    const jobId = 'callback-duplicates-inline';
    cloud.ims.createJob({ jobId, exportType: 'AdobePremierePro', script: [{ status: 'Success' }], project: { bucket: EXPORT_BUCKET, prefix: 'exports/', size: 2 * 1024 * 1024 } });

    const responses = await Promise.all(Array.from({ length: 20 }, () => request({ headers: iceHeaders(newAuthKey), body: envelope(jobId) })));

    expect(responses.map((response) => response.status)).toEqual(Array(20).fill(200));
    const keys = jobKeys(cloud, jobId);
    expect(keys).toHaveLength(2);
    expect(keys.filter((key) => key.endsWith('.zip'))).toHaveLength(1);
    expect(keys).toContain(`ims-exports/${jobId}/manifest.json`);
    const zip = readObject(cloud, keys.find((key) => key.endsWith('.zip'))!);
    expect(zip?.crc64).toBe(crc64(cloud.ims.getJob(jobId)!.project!.bytes));
    expect(completedWrites(keys.find((key) => key.endsWith('.zip'))!)).toBe(1);
    expect(completedWrites(`ims-exports/${jobId}/manifest.json`)).toBe(1);
    expect(cloud.oss.listOpenMultipartUploads(DESTINATION_BUCKET)).toEqual([]);

    // Runs that found the copy in progress may have left the job in the ledger; the next tick removes it.
    advanceClock(60);
    await tick();
    expect(ledgerKeys(jobId)).toEqual([]);
    expect(completedWrites(keys.find((key) => key.endsWith('.zip'))!)).toBe(1);
  });

  it('finishes a Processing job on a later tick', async () => {
    const jobId = 'callback-processing-inline';
    cloud.ims.createJob({ jobId, script: [{ status: 'Processing', responses: 1 }, { status: 'Success' }] });

    const response = await request({ headers: iceHeaders(newAuthKey), body: envelope(jobId) });

    expect(response.status).toBe(200);
    expect(response.body.outcome?.outcome).toBe('pending');
    expect(jobKeys(cloud, jobId)).toEqual([]);
    expect(ledgerKeys(jobId)).toHaveLength(2);

    expect((await tick()).jobs.find((job) => job.jobId === jobId)).toBeUndefined();
    advanceClock(10);
    const summary = await tick();

    expect(summary.jobs.find((job) => job.jobId === jobId)?.outcome).toBe('copied');
    expect(readJson(cloud, `ims-exports/${jobId}/manifest.json`).result).toBe('copied');
    expect(ledgerKeys(jobId)).toEqual([]);
  });

  it('answers 503 when the ledger write fails', async () => {
    const jobId = 'callback-ledger-down';
    timelineJob(jobId);
    cloud.oss.faults.add({ kind: 'error', status: 503, code: 'ServiceUnavailable' }, { times: 10, match: (request) => request.operation === 'PutObject' });

    const response = await request({ headers: iceHeaders(newAuthKey), body: envelope(jobId) });

    expect(response.status).toBe(503);
    expect(jobKeys(cloud, jobId)).toEqual([]);
    expect(imsCalls(jobId)).toBe(0);
  });
});

describe('callback handing jobs to the worker', () => {
  beforeAll(() => {
    useSettings({ ...SIGNED_SETTINGS(), WORKER_FUNCTION });
  });

  it('answers IMS in time while a large zip copies', async () => {
    const jobId = 'callback-large-zip';
    const size = 64 * 1024 * 1024;
    // Random bytes take milliseconds, where the emulator's generated ones would block the event loop for seconds
    // and let the trigger's idle keep-alive connections time out under the next request.
    const bytes = randomBytes(size);
    cloud.ims.createJob({ jobId, exportType: 'AdobePremierePro', script: [{ status: 'Success' }], project: { bucket: EXPORT_BUCKET, prefix: 'exports/', bytes } });
    // Loopback copies 64 MiB in well under 3 s, so the sync's first request under the job's output prefix is
    // also held back past IMS's limit: a callback that waited for the copy would miss it.
    cloud.oss.faults.add({ kind: 'delay', ms: 4_000 }, { match: (request) => request.path.includes(`/ims-exports/${jobId}/`) });

    // IMS's own rule: a delivery counts only when HTTP 200 arrives within 3 s.
    const delivery = await sendIceCallback({ url: callbackUrl, authKey: newAuthKey, messageBody: { JobId: jobId, Status: 'Success' } });

    expect(delivery.attempts.map((attempt) => attempt.status)).toEqual([200]);
    expect(delivery.attempts[0]!.durationMs).toBeLessThan(3_000);
    await cloud.fc.drain();
    const zipKey = jobKeys(cloud, jobId).find((key) => key.endsWith('.zip'));
    expect(readObject(cloud, zipKey ?? '')?.size).toBe(size);
    expect(readObject(cloud, zipKey ?? '')?.crc64).toBe(crc64(bytes));
    expect(readJson(cloud, `ims-exports/${jobId}/manifest.json`).result).toBe('copied');
    expect(ledgerKeys(jobId)).toEqual([]);
  }, 120_000);

  it('answers with the dispatch mode', async () => {
    const jobId = 'callback-dispatched';
    timelineJob(jobId);

    const response = await request({ query: `?token=${callbackToken}`, body: JSON.stringify({ JobId: jobId }) });

    expect(response.status).toBe(200);
    expect(response.body).toEqual({ accepted: true, mode: 'dispatched', jobId });
    await cloud.fc.drain();
    const invocations = cloud.fc.invocations.filter((invocation) => invocation.payload.includes(jobId));
    expect(invocations.map((invocation) => invocation.invocationType)).toEqual(['Async']);
    expect(readJson(cloud, `ims-exports/${jobId}/manifest.json`).result).toBe('copied');
  });

  it('copies once for 20 concurrent duplicates', async () => {
    const jobId = 'callback-duplicates-worker';
    cloud.ims.createJob({ jobId, exportType: 'AdobePremierePro', script: [{ status: 'Success' }], project: { bucket: EXPORT_BUCKET, prefix: 'exports/', size: 2 * 1024 * 1024 } });

    const responses = await Promise.all(Array.from({ length: 20 }, () => request({ headers: iceHeaders(oldAuthKey), body: envelope(jobId) })));
    await cloud.fc.drain();

    expect(responses.map((response) => response.status)).toEqual(Array(20).fill(200));
    const keys = jobKeys(cloud, jobId);
    expect(keys).toHaveLength(2);
    expect(keys.filter((key) => key.endsWith('.zip'))).toHaveLength(1);
    expect(keys).toContain(`ims-exports/${jobId}/manifest.json`);
    expect(completedWrites(keys.find((key) => key.endsWith('.zip'))!)).toBe(1);
    expect(completedWrites(`ims-exports/${jobId}/manifest.json`)).toBe(1);
    expect(cloud.oss.listOpenMultipartUploads(DESTINATION_BUCKET)).toEqual([]);

    // Runs that found the copy in progress may have left the job in the ledger; the next tick removes it.
    advanceClock(60);
    await tick();
    await cloud.fc.drain();
    expect(ledgerKeys(jobId)).toEqual([]);
    expect(completedWrites(keys.find((key) => key.endsWith('.zip'))!)).toBe(1);
  });

  it('finishes a Processing job on a later tick', async () => {
    const jobId = 'callback-processing-worker';
    cloud.ims.createJob({ jobId, script: [{ status: 'Processing', responses: 1 }, { status: 'Success' }] });

    const response = await request({ headers: iceHeaders(newAuthKey), body: envelope(jobId) });
    await cloud.fc.drain();

    expect(response.body.mode).toBe('dispatched');
    expect(jobKeys(cloud, jobId)).toEqual([]);
    expect(ledgerKeys(jobId)).toHaveLength(2);

    advanceClock(10);
    const summary = await tick();
    await cloud.fc.drain();

    expect(summary.jobs.find((job) => job.jobId === jobId)?.outcome).toBe('dispatched');
    expect(readJson(cloud, `ims-exports/${jobId}/manifest.json`).result).toBe('copied');
    expect(ledgerKeys(jobId)).toEqual([]);
  });

  it('leaves a failed hand-off due for the timer', async () => {
    const jobId = 'callback-dispatch-fails';
    timelineJob(jobId);
    cloud.fc.faults.add({ kind: 'error', status: 503 }, { match: (request) => request.operation === 'InvokeFunction' });

    const response = await request({ headers: iceHeaders(newAuthKey), body: envelope(jobId) });

    expect(response.status).toBe(200);
    expect(response.body.mode).toBe('dispatch-failed');
    expect(jobKeys(cloud, jobId)).toEqual([]);

    const summary = await tick();
    await cloud.fc.drain();

    expect(summary.jobs.find((job) => job.jobId === jobId)?.outcome).toBe('dispatched');
    expect(readJson(cloud, `ims-exports/${jobId}/manifest.json`).result).toBe('copied');
    expect(ledgerKeys(jobId)).toEqual([]);
  });
});

describe('callback without authentication settings', () => {
  beforeAll(() => {
    useSettings({});
  });

  it('rejects even a signed request', async () => {
    const jobId = 'callback-auth-unset';
    timelineJob(jobId);
    const keysBefore = bucketKeys();

    const response = await request({ headers: iceHeaders(newAuthKey), query: `?token=${callbackToken}`, body: envelope(jobId) });

    expect(response.status).toBe(401);
    expect(response.body.error).toContain('CALLBACK_AUTH_KEYS');
    expect(bucketKeys()).toEqual(keysBefore);
  });
});

describe('callback with CALLBACK_AUTH=off', () => {
  beforeAll(() => {
    useSettings({ CALLBACK_AUTH: 'off' });
  });

  it('accepts an unauthenticated request', async () => {
    const jobId = 'callback-auth-off';
    timelineJob(jobId);

    const response = await request({ body: envelope(jobId) });

    expect(response.status).toBe(200);
    expect(readJson(cloud, `ims-exports/${jobId}/manifest.json`).result).toBe('copied');
  });

  it('still validates the body', async () => {
    const keysBefore = bucketKeys();

    const response = await request({ body: envelope('../x') });

    expect(response.status).toBe(400);
    expect(bucketKeys()).toEqual(keysBefore);
  });
});
