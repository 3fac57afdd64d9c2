/**
 * Secrets in output: full flows through the bundled callback (behind a local FC HTTP trigger), worker
 * (behind the FC invoke API) and poller, with every secret set and logging at debug level. The search covers
 * everything the process writes to stdout and stderr, every console call, the handlers' return values, the
 * HTTP responses and the JSON objects written to the bucket. It looks for each secret value, raw or
 * percent-encoded, and for any unmasked URL signature or security token.
 *
 * The secrets searched for are the AccessKey secrets and STS tokens of every function context, the
 * AccessKey secret that presigns the ProjectUrls, both AuthKeys, the callback token, the credentials of
 * rejected callbacks, and every URL signature and callback signature sent.
 */
import { randomBytes } from 'node:crypto';
import { format } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { FcContext, FcHttpResponse } from '../../lib/fc-types';
import { DESTINATION_BUCKET, EXPORT_BUCKET, startLocalCloud, type LocalCloud } from '../../local/cloud';
import type { HttpTrigger } from '../../local/fc/http-trigger';
import { iceCallbackSignature } from '../../local/ims';
import { jsonEvent, loadBundledHandler, readObject, type Handler } from '../e2e/helpers';
import { recordResult } from './results';

const WORKER_FUNCTION = 'ims-export-sync-worker';
const CONSOLE_METHODS = ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const;

/** A signed query parameter or header whose value is not masked. */
const UNMASKED_SIGNATURE = /Signature=(?!\*\*\*)[^&\s"'\\]+/i;
const UNMASKED_SECURITY_TOKEN = /security-?token["']?\s*[:=]\s*["']?(?!\*\*\*)[A-Za-z0-9+/]/i;

interface Outcome {
  outcome: string;
  reason?: string;
}

interface TickSummary {
  jobs: { jobId: string; outcome: string }[];
}

/** One secret value and what it is, for a leak message that names the kind but never shows the value. */
interface Secret {
  kind: string;
  value: string;
}

/** Text a flow produced, by where it went. */
type Captured = Record<'process output' | 'return values' | 'HTTP responses' | 'JSON objects in the bucket', string[]>;

let cloud: LocalCloud;
let trigger: HttpTrigger;
let callbackUrl: string;
let callback: Handler<FcHttpResponse>;
let worker: Handler<Outcome>;
let poller: Handler<TickSummary>;
let captured: Captured;
let contexts: FcContext[] = [];
const sentSignatures: string[] = [];
const rejectedCredentials: string[] = [];
let jobCounter = 0;
// Secrets of this run only, random like the emulators' keys, so that none is ever stored in the repository.
const authKeys = [randomBytes(16).toString('hex'), randomBytes(16).toString('hex')];
const callbackToken = randomBytes(24).toString('hex');

function newCapture(): Captured {
  return { 'process output': [], 'return values': [], 'HTTP responses': [], 'JSON objects in the bucket': [] };
}

/** Sends everything written to stdout, stderr and the console into `captured` instead of the terminal. */
function captureOutput(): () => void {
  const originalStdout = process.stdout.write.bind(process.stdout);
  const originalStderr = process.stderr.write.bind(process.stderr);
  const intercept = (chunk: unknown, encodingOrCallback?: unknown, callbackArgument?: unknown): boolean => {
    captured['process output'].push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
    const done = typeof encodingOrCallback === 'function' ? encodingOrCallback : callbackArgument;
    if (typeof done === 'function') (done as () => void)();
    return true;
  };
  process.stdout.write = intercept as typeof process.stdout.write;
  process.stderr.write = intercept as typeof process.stderr.write;
  for (const method of CONSOLE_METHODS) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void captured['process output'].push(format(...args)));
  }
  const onWarning = (warning: Error): void => void captured['process output'].push(`${warning.name}: ${warning.message}`);
  process.on('warning', onWarning);

  return () => {
    process.stdout.write = originalStdout;
    process.stderr.write = originalStderr;
    vi.restoreAllMocks();
    process.off('warning', onWarning);
  };
}

/** Creates a context as FC does and keeps it, so that its secret and token are searched for. */
function newContext(functionName: string): FcContext {
  const context = cloud.context(functionName);
  contexts.push(context);
  return context;
}

function nextJobId(label: string): string {
  jobCounter += 1;
  return `secrets0${label}0${String(jobCounter).padStart(8, '0')}`;
}

function createZipJob(jobId: string, size: number, projectUrl: { lifetimeSeconds?: number } = {}): void {
  cloud.ims.createJob({ jobId, exportType: 'AdobePremierePro', script: [{ status: 'Success' }], project: { bucket: EXPORT_BUCKET, prefix: 'exports/', size }, projectUrl });
}

/** POSTs to the callback's HTTP trigger and keeps the response, headers included. */
async function post(options: { query?: string; headers?: Record<string, string>; body: string }): Promise<number> {
  const response = await fetch(`${callbackUrl}${options.query ?? ''}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...options.headers },
    body: options.body,
  });
  const text = await response.text();
  captured['HTTP responses'].push(`${response.status} ${JSON.stringify([...response.headers])} ${text}`);
  return response.status;
}

/** Builds X-ICE-* headers as IMS signs them, and keeps the signature to search for it. */
function signedHeaders(authKey: string, timestampSeconds = Math.floor(Date.now() / 1000)): Record<string, string> {
  const signature = iceCallbackSignature(callbackUrl, timestampSeconds, authKey);
  sentSignatures.push(signature);
  return { 'X-ICE-TIMESTAMP': String(timestampSeconds), 'X-ICE-SIGNATURE': signature };
}

function envelope(jobId: string): string {
  return JSON.stringify({ EventType: 'ProjectExportComplete', UserId: 1234567890123456, EventTime: '2024-01-01T00:00:00Z', MessageBody: { JobId: jobId } });
}

async function tick(jobIds: string[]): Promise<TickSummary> {
  const event = { triggerTime: new Date().toISOString(), triggerName: 'poll', payload: JSON.stringify({ jobIds }) };
  const result = await poller(jsonEvent(event), newContext('ims-export-sync-poller'));
  captured['return values'].push(JSON.stringify(result));
  return result;
}

async function runWorker(jobId: string, context: FcContext): Promise<Outcome> {
  const outcome = await worker(jsonEvent({ jobId }), context);
  captured['return values'].push(JSON.stringify(outcome));
  return outcome;
}

/** Values of the `name` query parameter of every request OSS received for the export bucket. */
function exportBucketQueryValues(name: string): string[] {
  return cloud.oss.requests.entries
    .filter((entry) => entry.detail?.bucket === EXPORT_BUCKET)
    .map((entry) => new URL(entry.path, 'http://127.0.0.1').searchParams.get(name))
    .filter((value): value is string => value !== null && value !== '');
}

/** Collects every secret of the flows so far: each kind with its distinct values. */
function collectSecrets(): Secret[] {
  const secrets: Secret[] = [];
  const add = (kind: string, values: (string | undefined)[]): void => {
    for (const value of new Set(values)) if (value) secrets.push({ kind, value });
  };
  add('context AccessKey secret', contexts.map((context) => context.credentials.accessKeySecret));
  add('context STS token', contexts.map((context) => context.credentials.securityToken));
  add('URL-signing AccessKey secret', exportBucketQueryValues('OSSAccessKeyId').map((id) => cloud.credentials.secretOf(id) ?? ''));
  add('ProjectUrl signature', exportBucketQueryValues('Signature'));
  add('AuthKey', authKeys);
  add('callback token', [callbackToken]);
  add('callback signature', sentSignatures);
  add('credential of a rejected callback', rejectedCredentials);
  return secrets;
}

/** Finds each secret, raw or percent-encoded, and each unmasked signature or token, naming kind and place. */
function findLeaks(secrets: Secret[]): string[] {
  const leaks: string[] = [];
  for (const [place, chunks] of Object.entries(captured)) {
    const text = chunks.join('\n');
    for (const secret of secrets) {
      if (text.includes(secret.value) || text.includes(encodeURIComponent(secret.value))) leaks.push(`${secret.kind} in ${place}`);
    }
    if (UNMASKED_SIGNATURE.test(text)) leaks.push(`unmasked Signature= value in ${place}`);
    if (UNMASKED_SECURITY_TOKEN.test(text)) leaks.push(`unmasked security-token value in ${place}`);
  }
  return [...new Set(leaks)];
}

function bytesSearched(): number {
  return Object.values(captured).reduce((sum, chunks) => sum + chunks.reduce((chunkSum, chunk) => chunkSum + Buffer.byteLength(chunk), 0), 0);
}

function countByKind(secrets: Secret[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const secret of secrets) counts[secret.kind] = (counts[secret.kind] ?? 0) + 1;
  return counts;
}

/** Searches what the flow produced, records the result for the report and returns the leaks. */
function searchAndRecord(test: string, flow: string): { leaks: string[]; secrets: Secret[] } {
  // Manifests and ledger records are written for downstream systems and operators, so they are searched too.
  const jsonKeys = cloud.oss.listKeys(DESTINATION_BUCKET).filter((key) => key.endsWith('.json'));
  captured['JSON objects in the bucket'] = jsonKeys.map((key) => readObject(cloud, key)?.body.toString('utf8') ?? '');
  const secrets = collectSecrets();
  const leaks = findLeaks(secrets);
  recordResult({ kind: 'secrets', test, flow, bytesSearched: bytesSearched(), secretsByKind: countByKind(secrets), leaks });
  return { leaks, secrets };
}

function manifestResult(jobId: string): string | undefined {
  const manifest = readObject(cloud, `ims-exports/${jobId}/manifest.json`);
  return manifest === undefined ? undefined : (JSON.parse(manifest.body.toString('utf8')) as { result: string }).result;
}

beforeAll(async () => {
  cloud = await startLocalCloud();
  trigger = await cloud.httpTrigger('ims-export-sync-callback', async (event, context) => {
    contexts.push(context);
    const response = await callback(event, context);
    captured['return values'].push(JSON.stringify(response));
    return response;
  });
  callbackUrl = `${trigger.url}/ims/callback`;
  Object.assign(
    process.env,
    cloud.env({
      LOG_LEVEL: 'debug',
      CALLBACK_AUTH_KEYS: authKeys.join(','),
      CALLBACK_URL: callbackUrl,
      CALLBACK_TOKEN: callbackToken,
      WORKER_FUNCTION,
    }),
  );
  callback = loadBundledHandler<FcHttpResponse>('callback');
  worker = loadBundledHandler<Outcome>('worker');
  poller = loadBundledHandler<TickSummary>('poller');
  // Each invocation's role may not read the export bucket, so the zip is downloaded with its presigned URL.
  cloud.fc.register(
    WORKER_FUNCTION,
    async (event, context) => {
      contexts.push(context);
      cloud.oss.denyRead(EXPORT_BUCKET, context.credentials.accessKeyId!);
      const outcome = await worker(event, context);
      captured['return values'].push(JSON.stringify(outcome));
      return outcome;
    },
    { timeoutSeconds: 600 },
  );
});

afterAll(async () => {
  await cloud.close();
});

afterEach(() => {
  cloud.fc.faults.clear();
  contexts = [];
});

describe('secrets in output', () => {
  it('stay out of a successful run', async ({ task }) => {
    const zipJob = nextJobId('zip');
    const timelineJob = nextJobId('timeline');
    const laterJob = nextJobId('later');
    createZipJob(zipJob, 9 * 1024 * 1024);
    cloud.ims.createJob({ jobId: timelineJob, script: [{ status: 'Success' }] });
    createZipJob(laterJob, 512 * 1024);
    cloud.ims.setJobScript(laterJob, [{ status: 'Processing' }]);
    captured = newCapture();
    const restore = captureOutput();
    const statuses: number[] = [];
    try {
      statuses.push(await post({ headers: signedHeaders(authKeys[1]!), body: envelope(zipJob) }));
      statuses.push(await post({ query: `?token=${callbackToken}`, body: JSON.stringify({ JobId: timelineJob }) }));
      statuses.push(await post({ headers: { 'X-Callback-Token': callbackToken }, body: JSON.stringify({ jobId: laterJob }) }));
      await cloud.fc.drain();
      cloud.ims.setJobStatus(laterJob, 'Success');
      await tick([laterJob]);
      await cloud.fc.drain();
    } finally {
      restore();
    }

    const { leaks, secrets } = searchAndRecord(task.fullTestName, 'callback, worker and poller copying three jobs');
    expect(statuses).toEqual([200, 200, 200]);
    expect(manifestResult(zipJob)).toBe('copied');
    expect(manifestResult(timelineJob)).toBe('copied');
    expect(manifestResult(laterJob)).toBe('copied');
    expect(secrets.some((secret) => secret.kind === 'ProjectUrl signature')).toBe(true);
    expect(leaks).toEqual([]);
  });

  it('stay out of errors', async ({ task }) => {
    const expiredJob = nextJobId('expired');
    const forgedJob = nextJobId('forged');
    const undispatchedJob = nextJobId('undispatched');
    const staleTokenJob = nextJobId('stale');
    createZipJob(expiredJob, 256 * 1024, { lifetimeSeconds: -60 });
    createZipJob(forgedJob, 256 * 1024);
    cloud.ims.createJob({ jobId: undispatchedJob, script: [{ status: 'Success' }] });
    cloud.ims.createJob({ jobId: staleTokenJob, script: [{ status: 'Success' }] });
    const wrongToken = randomBytes(24).toString('hex');
    const unknownAuthKey = randomBytes(16).toString('hex');
    rejectedCredentials.push(wrongToken, unknownAuthKey);
    captured = newCapture();
    const restore = captureOutput();
    const statuses: number[] = [];
    let forgedOutcome: Outcome;
    let staleOutcome: Outcome;
    try {
      // Rejected callbacks: a wrong token, a signature by an unknown AuthKey, a timestamp outside the skew.
      statuses.push(await post({ query: `?token=${wrongToken}`, body: JSON.stringify({ JobId: expiredJob }) }));
      statuses.push(await post({ headers: signedHeaders(unknownAuthKey), body: envelope(expiredJob) }));
      statuses.push(await post({ headers: signedHeaders(authKeys[0]!, Math.floor(Date.now() / 1000) - 3_600), body: envelope(expiredJob) }));

      // A ProjectUrl that has always expired by the time it is used: OSS rejects every download with 403.
      statuses.push(await post({ headers: signedHeaders(authKeys[0]!), body: envelope(expiredJob) }));
      await cloud.fc.drain();

      // A ProjectUrl signed with a wrong secret: OSS rejects it with 403 SignatureDoesNotMatch.
      const project = cloud.ims.getJob(forgedJob)!.project!;
      const signingKeyId = exportBucketQueryValues('OSSAccessKeyId')[0]!;
      const forgedUrl = cloud.oss.presignUrl(EXPORT_BUCKET, project.key, {
        expiresInSeconds: 3_600,
        credentials: { accessKeyId: signingKeyId, accessKeySecret: randomBytes(15).toString('hex') },
      });
      await cloud.oss.putObjectDirect(EXPORT_BUCKET, project.key, project.bytes);
      cloud.ims.setRawBody(
        forgedJob,
        JSON.stringify({ RequestId: 'forged', ProjectExportJob: { JobId: forgedJob, ExportType: 'AdobePremierePro', Status: 'Success', ExportResult: { ProjectUrl: forgedUrl } } }),
      );
      const forgedContext = newContext(WORKER_FUNCTION);
      cloud.oss.denyRead(EXPORT_BUCKET, forgedContext.credentials.accessKeyId!);
      forgedOutcome = await runWorker(forgedJob, forgedContext);

      // The hand-off to the worker fails with FC's 500.
      cloud.fc.faults.add({ kind: 'error', status: 500 });
      statuses.push(await post({ query: `?token=${callbackToken}`, body: JSON.stringify({ JobId: undispatchedJob }) }));

      // A worker whose STS token expired before it started: OSS rejects its first request.
      const staleContext = newContext(WORKER_FUNCTION);
      cloud.credentials.expire(staleContext.credentials.accessKeyId!);
      staleOutcome = await runWorker(staleTokenJob, staleContext);
    } finally {
      restore();
    }

    const { leaks } = searchAndRecord(task.fullTestName, 'rejected callbacks, expired and forged URLs, failed hand-off, expired token');
    expect(statuses).toEqual([401, 401, 401, 200, 200]);
    expect(cloud.fc.invocations.find((invocation) => invocation.payload.includes(expiredJob))?.result).toMatchObject({ reason: 'source-expired' });
    expect(forgedOutcome.reason).toBe('source-http-status');
    expect(captured['HTTP responses'].join('\n')).toContain('dispatch-failed');
    expect(staleOutcome.outcome).toBe('error');
    expect(leaks).toEqual([]);
  });
});
