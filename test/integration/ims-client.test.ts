/**
 * `ImsClient` over the real `@alicloud/openapi-client` against the local IMS emulator: how each broken
 * response becomes an `ImsApiError`, and which of them are retried.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ImsApiError } from '../../lib/errors';
import { ImsClient } from '../../lib/ims';
import { createLogger } from '../../lib/log';
import { CredentialStore } from '../../local/common/credentials';
import type { Fault } from '../../local/common/faults';
import { startImsEmulator, type ImsEmulator } from '../../local/ims';

const JOB_ID = 'ims-client-job';

let ims: ImsEmulator;
let credentials: CredentialStore;

beforeAll(async () => {
  credentials = new CredentialStore();
  ims = await startImsEmulator({ credentials });
  ims.createJob({ jobId: JOB_ID, script: [{ status: 'Success' }] });
});

afterEach(() => {
  ims.faults.clear();
});

afterAll(async () => {
  await ims.close();
});

function createClient(attempts: number, legacySignature = false): ImsClient {
  return new ImsClient({
    legacySignature,
    endpoint: { host: `127.0.0.1:${ims.port}`, protocol: 'http' },
    credentials: credentials.createAccessKey(),
    logger: createLogger('error'),
    attempts,
    baseDelayMs: 1,
    maxDelayMs: 1,
  });
}

async function failureOf(fault: Fault, legacySignature = false): Promise<ImsApiError> {
  ims.faults.add(fault);
  try {
    await createClient(1, legacySignature).getProjectExportJob(JOB_ID);
  } catch (error) {
    if (error instanceof ImsApiError) return error;
    throw error;
  }
  throw new Error('the call succeeded');
}

describe('ImsClient with a body that is not JSON', () => {
  it('names an HTML 502 page as not JSON', async () => {
    const error = await failureOf({ kind: 'error', status: 502, html: true });

    expect(error.message).toMatch(/^IMS GetProjectExportJob returned an HTTP error status \(the SDK does not report which\) with a body that is not JSON/);
    expect(error.message).not.toContain('before IMS answered');
    expect(error.retryable).toBe(true);
  });

  it('keeps HTTP 200 of a truncated body', async () => {
    const error = await failureOf({ kind: 'truncate', afterBytes: 20 });

    expect(error.message).toMatch(/^IMS GetProjectExportJob returned HTTP 200 with a body that is not JSON/);
    expect(error.statusCode).toBe(200);
    expect(error.retryable).toBe(true);
  });

  it('keeps HTTP 200 of a corrupt body', async () => {
    const error = await failureOf({ kind: 'corrupt' });

    expect(error.message).toMatch(/^IMS GetProjectExportJob returned HTTP 200 with a body that is not JSON/);
    expect(error.statusCode).toBe(200);
    expect(error.retryable).toBe(true);
  });

  it('keeps HTTP 200 with the legacy signature', async () => {
    const error = await failureOf({ kind: 'truncate', afterBytes: 20 }, true);

    expect(error.message).toMatch(/^IMS GetProjectExportJob returned HTTP 200 with a body that is not JSON/);
    expect(error.statusCode).toBe(200);
  });

  it('names an HTML 502 page with the legacy signature', async () => {
    const error = await failureOf({ kind: 'error', status: 502, html: true }, true);

    expect(error.message).toMatch(/^IMS GetProjectExportJob returned an HTTP error status \(the SDK does not report which\) with a body that is not JSON/);
  });

  it('names the request ID of a corrupt body', async () => {
    const error = await failureOf({ kind: 'corrupt' });

    expect(error.requestId).toMatch(/\S/);
  });

  it('retries until IMS sends JSON', async () => {
    ims.faults.add({ kind: 'error', status: 502, html: true });
    ims.faults.add({ kind: 'truncate', afterBytes: 20 });

    const job = await createClient(3).getProjectExportJob(JOB_ID);

    expect(job.jobId).toBe(JOB_ID);
  });

  it('reads JSON with the legacy signature', async () => {
    const job = await createClient(1, true).getProjectExportJob(JOB_ID);

    expect(job.jobId).toBe(JOB_ID);
  });
});

describe('ImsClient without a response', () => {
  it('reports a dropped connection as unanswered', async () => {
    const error = await failureOf({ kind: 'drop', afterBytes: 0 });

    expect(error.message).toMatch(/^IMS GetProjectExportJob failed before IMS answered/);
    expect(error.statusCode).toBeUndefined();
    expect(error.retryable).toBe(true);
  });
});

describe('ImsClient with an IMS error', () => {
  it('keeps the status and code', async () => {
    const error = await failureOf({ kind: 'error', status: 503 });

    expect(error.message).toMatch(/^IMS GetProjectExportJob returned HTTP 503 \(ServiceUnavailable\)/);
    expect(error.statusCode).toBe(503);
    expect(error.retryable).toBe(true);
  });
});
