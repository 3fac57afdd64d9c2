import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CredentialStore } from '../../local/common/credentials';
import { startImsEmulator, type ImsEmulator } from '../../local/ims';
import { callImsAction, createImsSdkClient, type ImsSdkClient } from '../fixtures/ims/sdk-client';

let ims: ImsEmulator;
let client: ImsSdkClient;

beforeAll(async () => {
  const credentials = new CredentialStore();
  ims = await startImsEmulator({ credentials });
  ims.createJob({ jobId: 'job-faults', script: [{ status: 'Success' }] });
  client = createImsSdkClient({
    endpoint: `127.0.0.1:${ims.port}`,
    ...credentials.createAccessKey(),
    readTimeoutMs: 300,
    connectTimeoutMs: 1000,
  });
});

afterEach(() => {
  ims.faults.clear();
});

afterAll(async () => {
  await ims.close();
});

interface SdkFailure extends Error {
  code?: string;
  statusCode?: number;
}

function getJob(): Promise<unknown> {
  return callImsAction(client, 'GetProjectExportJob', { JobId: 'job-faults' });
}

async function failureOf(call: Promise<unknown>): Promise<SdkFailure> {
  try {
    await call;
  } catch (error) {
    return error as SdkFailure;
  }
  throw new Error('the call succeeded');
}

describe('IMS emulator faults', () => {
  it('throttles with Throttling.User', async () => {
    ims.faults.add({ kind: 'throttle' });

    const error = await failureOf(getJob());

    expect(error.code).toBe('Throttling.User');
    expect(error.statusCode).toBe(400);
    expect(error.message).toContain('Request was denied due to user flow control.');
  });

  it('sends 500 InternalError', async () => {
    ims.faults.add({ kind: 'error', status: 500 });

    const error = await failureOf(getJob());

    expect(error.code).toBe('InternalError');
    expect(error.statusCode).toBe(500);
  });

  it('sends 503 ServiceUnavailable', async () => {
    ims.faults.add({ kind: 'error', status: 503 });

    const error = await failureOf(getJob());

    expect(error.code).toBe('ServiceUnavailable');
    expect(error.statusCode).toBe(503);
  });

  it('sends a chosen error code', async () => {
    ims.faults.add({ kind: 'error', status: 403, code: 'Forbidden.RAM', message: 'User not authorized.' });
    const error = await failureOf(getJob());
    expect(error.code).toBe('Forbidden.RAM');
  });

  it('turns an HTML 502 into SyntaxError', async () => {
    ims.faults.add({ kind: 'error', status: 502, html: true });

    const error = await failureOf(getJob());

    expect(error).toBeInstanceOf(SyntaxError);
    expect(error.statusCode).toBeUndefined();
  });

  // httpx 2.3.3, under openapi-client, reports ReadTimeout after readTimeout on a new connection. On a
  // reused keep-alive connection it reports ConnectTimeout after connectTimeout, which it also sets as the
  // socket's idle timeout. Which one applies depends on the order of the tests.
  it('outlasts the client timeouts', async () => {
    ims.faults.add({ kind: 'delay', ms: 1500 });

    const error = await failureOf(getJob());

    expect(error.name).toBe('RequestTimeoutError');
    expect(error.message).toMatch(/(Read|Connect)Timeout/);
    expect(error.statusCode).toBeUndefined();
  });

  it('drops the connection', async () => {
    ims.faults.add({ kind: 'drop', afterBytes: 0 });

    const error = await failureOf(getJob());

    expect(error.code).toBe('ECONNRESET');
    expect(error.statusCode).toBeUndefined();
  });

  it('drops part-way through the body', async () => {
    ims.faults.add({ kind: 'drop', afterBytes: 10, stage: 'response-body' });
    const error = await failureOf(getJob());
    expect(error.code).toBe('ECONNRESET');
  });

  it('truncates the body', async () => {
    ims.faults.add({ kind: 'truncate', afterBytes: 20 });
    expect(await failureOf(getJob())).toBeInstanceOf(SyntaxError);
  });

  it('corrupts the body', async () => {
    ims.faults.add({ kind: 'corrupt' });
    expect(await failureOf(getJob())).toBeInstanceOf(SyntaxError);
  });

  it('applies a fault the given number of times', async () => {
    ims.faults.add({ kind: 'throttle' }, { times: 2 });

    const first = await failureOf(getJob());
    const second = await failureOf(getJob());
    const third = await getJob();

    expect(first.code).toBe('Throttling.User');
    expect(second.code).toBe('Throttling.User');
    expect(third).toHaveProperty('statusCode', 200);
  });

  it('matches faults by action', async () => {
    ims.faults.add({ kind: 'throttle' }, { match: (request) => request.operation === 'SubmitProjectExportJob' });
    await expect(getJob()).resolves.toHaveProperty('statusCode', 200);
  });

  it('logs the fault', async () => {
    ims.faults.add({ kind: 'error', status: 503 });
    await failureOf(getJob());

    const entry = ims.requests.entries.at(-1);

    expect(entry?.status).toBe(503);
    expect(entry?.detail?.['fault']).toBe('error');
  });
});
