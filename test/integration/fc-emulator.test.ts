import FCClient from '@alicloud/fc2';
import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CredentialStore, type AccessKeyRecord } from '../../local/common/credentials';
import { closeServer, listenOnLoopback, readBody } from '../../local/common/http';
import { startFcEmulator, type FcEmulator } from '../../local/fc';
import type { FcContext } from '../../lib/fc-types';

const ACCOUNT_ID = '1234567890123456';
const REGION = 'cn-hangzhou';

let credentials: CredentialStore;
let emulator: FcEmulator;
let longLivedKey: AccessKeyRecord;
let stsKey: AccessKeyRecord;

beforeAll(async () => {
  credentials = new CredentialStore();
  longLivedKey = credentials.createAccessKey();
  stsKey = credentials.issueStsCredentials();
  emulator = await startFcEmulator({ credentials, accountId: ACCOUNT_ID, region: REGION, asyncRetryBaseDelayMs: 1 });
});

afterEach(async () => {
  await emulator.drain();
  emulator.faults.clear();
});

afterAll(async () => {
  await emulator.close();
});

function clientFor(key: AccessKeyRecord, endpoint = emulator.url, accountId = ACCOUNT_ID): FCClient {
  return new FCClient(accountId, {
    accessKeyID: key.accessKeyId,
    accessKeySecret: key.accessKeySecret,
    securityToken: key.securityToken,
    region: REGION,
    endpoint,
    timeout: 10_000,
  });
}

/** Invokes through the FC 3.0 path, as the product's dispatcher does. */
function invokeV3(client: FCClient, functionName: string, payload: string, headers: Record<string, string> = {}) {
  client.version = '2023-03-30';
  return client.post(`/functions/${functionName}/invocations`, payload, headers);
}

let functionCounter = 0;

/** Registers a handler under a fresh name and returns the name and the events and contexts it received. */
function registerRecorder(result: unknown = { ok: true }, options = {}) {
  functionCounter += 1;
  const name = `fn-${functionCounter}`;
  const calls: { event: string; context: FcContext }[] = [];
  emulator.register(
    name,
    async (event, context) => {
      calls.push({ event: event.toString('utf8'), context });
      return result;
    },
    options,
  );
  return { name, calls };
}

async function rejectionOf(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected the call to fail, but it succeeded');
}

type Tamper = (headers: IncomingHttpHeaders, body: Buffer) => { headers: IncomingHttpHeaders; body: Buffer };

/** Starts a proxy on 127.0.0.1 that changes each request on its way to the emulator, as an attacker in between could. */
async function startTamperingProxy(tamper: Tamper): Promise<{ url: string; close: () => Promise<void> }> {
  const target = new URL(emulator.url);
  const server = createServer(async (incoming, outgoing) => {
    const changed = tamper({ ...incoming.headers }, await readBody(incoming));
    const forwarded = httpRequest(
      { host: target.hostname, port: target.port, method: incoming.method, path: incoming.url, headers: changed.headers },
      (upstream) => {
        outgoing.writeHead(upstream.statusCode ?? 502, upstream.headers);
        upstream.pipe(outgoing);
      },
    );
    forwarded.end(changed.body);
  });
  const { url } = await listenOnLoopback(server);
  return { url, close: () => closeServer(server) };
}

describe('FC emulator sync invocation', () => {
  it('returns the result on the FC 3.0 path', async () => {
    const fn = registerRecorder({ greeting: 'hello' });

    const response = await invokeV3(clientFor(longLivedKey), fn.name, 'world');

    expect(JSON.parse(response.data as string)).toEqual({ greeting: 'hello' });
  });

  it('passes the payload on the FC 3.0 path', async () => {
    const fn = registerRecorder();

    await invokeV3(clientFor(longLivedKey), fn.name, '{"jobId":"job-1"}');

    expect(fn.calls.map((call) => call.event)).toEqual(['{"jobId":"job-1"}']);
  });

  it('returns the result on the FC 2.0 path', async () => {
    const fn = registerRecorder('hello world');

    const response = await clientFor(longLivedKey).invokeFunction('demo', fn.name, 'world');

    expect(response.data).toBe('hello world');
  });

  it('passes the qualifier of the FC 2.0 path', async () => {
    const fn = registerRecorder();

    await clientFor(longLivedKey).invokeFunction('demo', fn.name, 'world', {}, 'prod');

    expect(fn.calls[0]?.context.service.qualifier).toBe('prod');
  });

  it('accepts STS credentials on the FC 3.0 path', async () => {
    const fn = registerRecorder('ok');

    const response = await invokeV3(clientFor(stsKey), fn.name, 'world');

    expect(response.data).toBe('ok');
  });

  it('accepts STS credentials on the FC 2.0 path', async () => {
    const fn = registerRecorder('ok');

    const response = await clientFor(stsKey).invokeFunction('demo', fn.name, 'world');

    expect(response.data).toBe('ok');
  });

  it('sends a request ID header', async () => {
    const fn = registerRecorder();

    const response = await invokeV3(clientFor(longLivedKey), fn.name, 'world');

    expect(response.headers['x-fc-request-id']).toMatch(/^1-[0-9a-f]{8}-[0-9a-f]{24}$/);
  });

  it('marks a thrown error as UnhandledInvocationError', async () => {
    functionCounter += 1;
    const name = `fn-${functionCounter}`;
    emulator.register(name, async () => {
      throw new TypeError('bad input');
    });

    const response = await invokeV3(clientFor(longLivedKey), name, 'world');

    expect(response.headers['x-fc-error-type']).toBe('UnhandledInvocationError');
    expect(response.data).toMatchObject({ errorMessage: 'bad input', errorType: 'TypeError' });
  });

  it('reports a timeout as UnhandledInvocationError', async () => {
    functionCounter += 1;
    const name = `fn-${functionCounter}`;
    emulator.register(name, () => new Promise((resolve) => setTimeout(resolve, 500)), { timeoutSeconds: 0.05 });

    const response = await invokeV3(clientFor(longLivedKey), name, 'world');

    expect(response.headers['x-fc-error-type']).toBe('UnhandledInvocationError');
    expect(response.data).toMatchObject({ errorType: 'FunctionTimeout' });
  });
});

describe('FC emulator authentication', () => {
  it('rejects a wrong secret with SignatureNotMatch', async () => {
    const fn = registerRecorder();
    const wrongSecret = { ...longLivedKey, accessKeySecret: `${longLivedKey.accessKeySecret}x` };

    const error = await rejectionOf(invokeV3(clientFor(wrongSecret), fn.name, 'world'));

    expect(error.code).toBe('SignatureNotMatch');
    expect(error.message).toContain('failed with 403');
    expect(fn.calls).toHaveLength(0);
  });

  it('rejects an unknown AccessKey ID', async () => {
    const fn = registerRecorder();
    const unknown = { accessKeyId: 'LTAIunknownkey', accessKeySecret: 'whatever' };

    const error = await rejectionOf(invokeV3(clientFor(unknown), fn.name, 'world'));

    expect(error.code).toBe('InvalidAccessKeyID');
  });

  it('rejects an expired STS token', async () => {
    const fn = registerRecorder();
    const expiring = credentials.issueStsCredentials();
    credentials.expire(expiring.accessKeyId);

    const error = await rejectionOf(invokeV3(clientFor(expiring), fn.name, 'world'));

    expect(error.code).toBe('InvalidSecurityToken');
  });

  it('rejects a Date skewed by more than 15 minutes', async () => {
    const fn = registerRecorder();
    const skewed = new Date(Date.now() - 16 * 60 * 1000).toUTCString();

    const error = await rejectionOf(invokeV3(clientFor(longLivedKey), fn.name, 'world', { date: skewed }));

    expect(error.code).toBe('RequestTimeTooSkewed');
  });

  it('accepts a Date skewed by less than 15 minutes', async () => {
    const fn = registerRecorder('ok');
    const skewed = new Date(Date.now() - 10 * 60 * 1000).toUTCString();

    const response = await invokeV3(clientFor(longLivedKey), fn.name, 'world', { date: skewed });

    expect(response.data).toBe('ok');
  });

  it('rejects a signed header changed in transit', async () => {
    const fn = registerRecorder();
    const proxy = await startTamperingProxy((headers, body) => ({
      headers: { ...headers, 'x-fc-invocation-type': 'Async' },
      body,
    }));

    try {
      const error = await rejectionOf(invokeV3(clientFor(longLivedKey, proxy.url), fn.name, 'world', { 'x-fc-invocation-type': 'Sync' }));

      expect(error.code).toBe('SignatureNotMatch');
      expect(fn.calls).toHaveLength(0);
    } finally {
      await proxy.close();
    }
  });

  it('rejects a body changed in transit', async () => {
    const fn = registerRecorder();
    const proxy = await startTamperingProxy((headers, body) => ({ headers, body: Buffer.from(body.toString('utf8').replace('1', '2')) }));

    try {
      const error = await rejectionOf(invokeV3(clientFor(longLivedKey, proxy.url), fn.name, '{"jobId":"job-1"}'));

      expect(error.code).toBe('InvalidArgument');
      expect(fn.calls).toHaveLength(0);
    } finally {
      await proxy.close();
    }
  });

  it('rejects another account', async () => {
    const fn = registerRecorder();

    const error = await rejectionOf(invokeV3(clientFor(longLivedKey, emulator.url, '9999999999999999'), fn.name, 'world'));

    expect(error.code).toBe('AccessDenied');
  });

  it('returns FunctionNotFound for unknown function', async () => {
    const error = await rejectionOf(invokeV3(clientFor(longLivedKey), 'no-such-function', 'world'));

    expect(error.code).toBe('FunctionNotFound');
    expect(error.message).toContain('failed with 404');
  });
});

describe('FC emulator async invocation', () => {
  it('responds 202 with an empty body', async () => {
    const fn = registerRecorder();

    const response = await invokeV3(clientFor(longLivedKey), fn.name, 'world', { 'x-fc-invocation-type': 'Async' });

    expect(response.data).toBe('');
  });

  it('runs the handler with the payload', async () => {
    const fn = registerRecorder();

    await invokeV3(clientFor(longLivedKey), fn.name, '{"jobId":"job-7"}', { 'x-fc-invocation-type': 'Async' });
    await emulator.drain();

    expect(fn.calls.map((call) => call.event)).toEqual(['{"jobId":"job-7"}']);
  });

  it('runs the handler on the FC 2.0 path', async () => {
    const fn = registerRecorder();

    await clientFor(stsKey).invokeFunction('demo', fn.name, 'world', { 'x-fc-invocation-type': 'Async' });
    await emulator.drain();

    expect(fn.calls).toHaveLength(1);
  });

  it('gives the handler a realistic context', async () => {
    const fn = registerRecorder({}, { timeoutSeconds: 120, memoryMb: 1024 });

    const response = await invokeV3(clientFor(stsKey), fn.name, 'world', { 'x-fc-invocation-type': 'Async' });
    await emulator.drain();
    const context = fn.calls[0]!.context;

    expect(context.requestId).toBe(response.headers['x-fc-request-id']);
    expect(context.function).toMatchObject({ name: fn.name, timeout: 120, memory: 1024, handler: 'index.handler' });
    expect(context.region).toBe(REGION);
    expect(context.accountId).toBe(ACCOUNT_ID);
    expect(context.retryCount).toBe(0);
  });

  it('gives the handler STS credentials the store accepts', async () => {
    const fn = registerRecorder();

    await invokeV3(clientFor(longLivedKey), fn.name, 'world', { 'x-fc-invocation-type': 'Async' });
    await emulator.drain();
    const contextCredentials = fn.calls[0]!.context.credentials;

    expect(contextCredentials.accessKeyId).toMatch(/^STS\./);
    expect(credentials.check(contextCredentials.accessKeyId!, contextCredentials.securityToken).ok).toBe(true);
  });

  it('retries a handler that throws until it succeeds', async () => {
    functionCounter += 1;
    const name = `fn-${functionCounter}`;
    const retryCounts: (number | undefined)[] = [];
    emulator.register(name, async (_event, context) => {
      retryCounts.push(context.retryCount);
      if (retryCounts.length <= 2) throw new Error(`attempt ${retryCounts.length} failed`);
      return 'done';
    });

    await invokeV3(clientFor(longLivedKey), name, 'world', { 'x-fc-invocation-type': 'Async' });
    await emulator.drain();
    const invocation = emulator.invocations.find((entry) => entry.functionName === name)!;

    expect(retryCounts).toEqual([0, 1, 2]);
    expect(invocation.outcome).toBe('succeeded');
    expect(invocation.attempts.map((attempt) => attempt.error)).toEqual(['attempt 1 failed', 'attempt 2 failed', undefined]);
    expect(new Set(invocation.attempts.map((attempt) => attempt.accessKeyId)).size).toBe(3);
  });

  it('gives up after maxAsyncRetryAttempts retries', async () => {
    functionCounter += 1;
    const name = `fn-${functionCounter}`;
    emulator.register(name, async () => {
      throw new Error('always fails');
    }, { maxAsyncRetryAttempts: 1 });

    await invokeV3(clientFor(longLivedKey), name, 'world', { 'x-fc-invocation-type': 'Async' });
    await emulator.drain();
    const invocation = emulator.invocations.find((entry) => entry.functionName === name)!;

    expect(invocation.attempts).toHaveLength(2);
    expect(invocation.outcome).toBe('failed');
  });

  it('drain waits for a running handler', async () => {
    functionCounter += 1;
    const name = `fn-${functionCounter}`;
    let finished = false;
    emulator.register(name, async () => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      finished = true;
    });

    await invokeV3(clientFor(longLivedKey), name, 'world', { 'x-fc-invocation-type': 'Async' });
    const finishedBeforeDrain = finished;
    await emulator.drain();

    expect(finishedBeforeDrain).toBe(false);
    expect(finished).toBe(true);
  });

  it('rejects a payload over 128 KB', async () => {
    const fn = registerRecorder();

    const error = await rejectionOf(invokeV3(clientFor(longLivedKey), fn.name, 'x'.repeat(129 * 1024), { 'x-fc-invocation-type': 'Async' }));

    expect(error.code).toBe('EntityTooLarge');
  });
});

describe('FC emulator faults', () => {
  it('returns an injected 503 in FC form', async () => {
    const fn = registerRecorder();
    emulator.faults.add({ kind: 'error', status: 503 });

    const error = await rejectionOf(invokeV3(clientFor(longLivedKey), fn.name, 'world'));

    expect(error.code).toBe('ServiceUnavailable');
    expect(error.message).toContain('failed with 503');
  });

  it('returns 429 ResourceThrottled on throttle', async () => {
    const fn = registerRecorder();
    emulator.faults.add({ kind: 'throttle' });

    const error = await rejectionOf(invokeV3(clientFor(longLivedKey), fn.name, 'world'));

    expect(error.code).toBe('ResourceThrottled');
    expect(error.message).toContain('failed with 429');
  });

  it('drops the connection before invoking', async () => {
    const fn = registerRecorder();
    emulator.faults.add({ kind: 'drop', afterBytes: 0 });

    await rejectionOf(invokeV3(clientFor(longLivedKey), fn.name, 'world', { 'x-fc-invocation-type': 'Async' }));
    await emulator.drain();

    expect(fn.calls).toHaveLength(0);
  });

  it('drops the response after async acceptance', async () => {
    const fn = registerRecorder();
    emulator.faults.add({ kind: 'drop', afterBytes: 0, stage: 'response-body' });

    await rejectionOf(invokeV3(clientFor(longLivedKey), fn.name, 'world', { 'x-fc-invocation-type': 'Async' }));
    await emulator.drain();

    expect(fn.calls).toHaveLength(1);
  });

  it('delays then responds normally', async () => {
    const fn = registerRecorder('ok');
    emulator.faults.add({ kind: 'delay', ms: 20 });

    const response = await invokeV3(clientFor(longLivedKey), fn.name, 'world');

    expect(response.data).toBe('ok');
  });

  it('applies a fault only to matching requests', async () => {
    const fn = registerRecorder('ok');
    emulator.faults.add({ kind: 'error', status: 500 }, { match: (request) => request.headers['x-fc-invocation-type'] === 'Async' });

    const response = await invokeV3(clientFor(longLivedKey), fn.name, 'world');

    expect(response.data).toBe('ok');
    expect(emulator.faults.pending).toBe(1);
  });

  it('records each request with its status', async () => {
    const fn = registerRecorder();
    emulator.requests.clear();
    emulator.faults.add({ kind: 'error', status: 500 });

    await rejectionOf(invokeV3(clientFor(longLivedKey), fn.name, 'world'));
    await invokeV3(clientFor(longLivedKey), fn.name, 'world', { 'x-fc-invocation-type': 'Async' });

    expect(emulator.requests.entries.map((entry) => entry.status)).toEqual([500, 202]);
    expect(emulator.requests.count('InvokeFunction')).toBe(2);
  });
});
