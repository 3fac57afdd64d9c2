import { createServer } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CredentialStore, type AccessKeyRecord } from '../../local/common/credentials';
import { closeServer, listenOnLoopback } from '../../local/common/http';
import { startFcEmulator, type FcEmulator } from '../../local/fc';
import { DispatchError, createWorkerDispatcher, resolveFcEndpoint, type WorkerDispatcherOptions } from '../../lib/dispatch';

const ACCOUNT_ID = '1234567890123456';
const REGION = 'cn-shanghai';
const WORKER = 'worker';

let credentials: CredentialStore;
let emulator: FcEmulator;
let longLivedKey: AccessKeyRecord;
let received: string[];

beforeAll(async () => {
  credentials = new CredentialStore();
  longLivedKey = credentials.createAccessKey();
  emulator = await startFcEmulator({ credentials, accountId: ACCOUNT_ID, region: REGION, asyncRetryBaseDelayMs: 1 });
  emulator.register(WORKER, async (event) => {
    received.push(event.toString('utf8'));
    return { ok: true };
  });
});

afterEach(async () => {
  await emulator.drain();
  emulator.faults.clear();
});

afterAll(async () => {
  await emulator.close();
});

function dispatcherWith(overrides: Partial<WorkerDispatcherOptions> = {}) {
  return createWorkerDispatcher({
    functionName: WORKER,
    accountId: ACCOUNT_ID,
    region: REGION,
    endpoint: emulator.url,
    credentials: { accessKeyId: longLivedKey.accessKeyId, accessKeySecret: longLivedKey.accessKeySecret },
    ...overrides,
  });
}

async function dispatchError(promise: Promise<unknown>): Promise<DispatchError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof DispatchError) return error;
    throw new Error(`expected a DispatchError, got ${String(error)}`, { cause: error });
  }
  throw new Error('expected the dispatch to fail, but it succeeded');
}

/** Returns a loopback port that nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  const { port } = await listenOnLoopback(server);
  await closeServer(server);
  return port;
}

describe('createWorkerDispatcher', () => {
  it('runs the worker with the job ID', async () => {
    received = [];

    await dispatcherWith().dispatch('job-1');
    await emulator.drain();

    expect(received.map((text) => JSON.parse(text))).toEqual([{ jobId: 'job-1' }]);
  });

  it('returns the request ID of the invocation', async () => {
    const { requestId } = await dispatcherWith().dispatch('job-2');
    const invocation = emulator.invocations.find((entry) => entry.requestId === requestId);

    expect(requestId).toMatch(/^1-/);
    expect(invocation?.invocationType).toBe('Async');
    expect(invocation?.route.apiVersion).toBe('2023-03-30');
  });

  it('dispatches with STS credentials', async () => {
    received = [];
    const sts = credentials.issueStsCredentials();
    const dispatcher = dispatcherWith({
      credentials: { accessKeyId: sts.accessKeyId, accessKeySecret: sts.accessKeySecret, securityToken: sts.securityToken },
    });

    await dispatcher.dispatch('job-3');
    await emulator.drain();

    expect(received).toEqual(['{"jobId":"job-3"}']);
  });

  it('wraps a 503 in a retryable DispatchError', async () => {
    emulator.faults.add({ kind: 'error', status: 503 });

    const error = await dispatchError(dispatcherWith().dispatch('job-4'));

    expect(error.name).toBe('DispatchError');
    expect(error.status).toBe(503);
    expect(error.code).toBe('ServiceUnavailable');
    expect(error.retryable).toBe(true);
    expect(error.requestId).toMatch(/^1-/);
    expect(error.cause).toBeInstanceOf(Error);
  });

  it('names the function and job in the message', async () => {
    emulator.faults.add({ kind: 'error', status: 503 });

    const error = await dispatchError(dispatcherWith().dispatch('job-5'));

    expect(error.message).toContain('job job-5');
    expect(error.message).toContain(`function ${WORKER}`);
    expect(error.jobId).toBe('job-5');
    expect(error.functionName).toBe(WORKER);
  });

  it('treats throttling as retryable', async () => {
    emulator.faults.add({ kind: 'throttle' });

    const error = await dispatchError(dispatcherWith().dispatch('job-6'));

    expect(error.status).toBe(429);
    expect(error.retryable).toBe(true);
  });

  it('treats a wrong secret as final', async () => {
    const secret = `${longLivedKey.accessKeySecret}x`;
    const dispatcher = dispatcherWith({ credentials: { accessKeyId: longLivedKey.accessKeyId, accessKeySecret: secret } });

    const error = await dispatchError(dispatcher.dispatch('job-7'));

    expect(error.status).toBe(403);
    expect(error.code).toBe('SignatureNotMatch');
    expect(error.retryable).toBe(false);
  });

  it('keeps the secret out of the message', async () => {
    const secret = `${longLivedKey.accessKeySecret}x`;
    const dispatcher = dispatcherWith({ credentials: { accessKeyId: longLivedKey.accessKeyId, accessKeySecret: secret } });

    const error = await dispatchError(dispatcher.dispatch('job-8'));

    expect(error.message).not.toContain(secret);
    expect(error.message).not.toContain(longLivedKey.accessKeySecret);
  });

  it('reports an unknown function as final', async () => {
    const error = await dispatchError(dispatcherWith({ functionName: 'missing-worker' }).dispatch('job-9'));

    expect(error.status).toBe(404);
    expect(error.code).toBe('FunctionNotFound');
    expect(error.retryable).toBe(false);
  });

  it('treats a refused connection as retryable', async () => {
    const port = await closedPort();

    const error = await dispatchError(dispatcherWith({ endpoint: `http://127.0.0.1:${port}` }).dispatch('job-10'));

    expect(error.status).toBeUndefined();
    expect(error.retryable).toBe(true);
  });

  it('times out after timeoutMs', async () => {
    // The delayed request still reaches the emulator after the client gave up, so it goes to a function
    // whose runs no other test counts.
    emulator.register('idle-worker', async () => undefined);
    emulator.faults.add({ kind: 'delay', ms: 1_000 });

    const error = await dispatchError(dispatcherWith({ functionName: 'idle-worker', timeoutMs: 100 }).dispatch('job-11'));

    expect(error.status).toBeUndefined();
    expect(error.retryable).toBe(true);
  });

  it('fails when the response is lost', async () => {
    received = [];
    emulator.faults.add({ kind: 'drop', afterBytes: 0, stage: 'response-body' });

    const error = await dispatchError(dispatcherWith().dispatch('job-12'));
    await emulator.drain();

    expect(error.retryable).toBe(true);
    expect(received).toEqual(['{"jobId":"job-12"}']);
  });

  it('rejects an empty job ID without a request', async () => {
    emulator.requests.clear();

    const error = await dispatchError(dispatcherWith().dispatch(''));

    expect(error.retryable).toBe(false);
    expect(emulator.requests.count()).toBe(0);
  });

  it('requires a token for STS credentials', () => {
    const create = () => dispatcherWith({ credentials: { accessKeyId: 'STS.example', accessKeySecret: 'example' } });

    expect(create).toThrow(/securityToken/);
  });

  it('names each missing option', () => {
    const create = () => dispatcherWith({ functionName: '', region: '' });

    expect(create).toThrow(/missing functionName, region$/);
  });
});

describe('resolveFcEndpoint', () => {
  it('defaults to the internal https endpoint', () => {
    expect(resolveFcEndpoint(ACCOUNT_ID, REGION)).toBe(`https://${ACCOUNT_ID}.${REGION}-internal.fc.aliyuncs.com`);
  });

  it('adds https to a bare host', () => {
    expect(resolveFcEndpoint(ACCOUNT_ID, REGION, 'fc.example.com')).toBe('https://fc.example.com');
  });

  it('keeps scheme and port of a URL', () => {
    expect(resolveFcEndpoint(ACCOUNT_ID, REGION, 'http://127.0.0.1:9100/')).toBe('http://127.0.0.1:9100');
  });

  it('keeps the port of a bare host', () => {
    expect(resolveFcEndpoint(ACCOUNT_ID, REGION, 'fc.example.com:8443')).toBe('https://fc.example.com:8443');
  });

  it('rejects a URL with a path', () => {
    expect(() => resolveFcEndpoint(ACCOUNT_ID, REGION, 'https://fc.example.com/api')).toThrow(/path or query/);
  });

  it('rejects another scheme', () => {
    expect(() => resolveFcEndpoint(ACCOUNT_ID, REGION, 'ftp://fc.example.com')).toThrow(/only http and https/);
  });
});
