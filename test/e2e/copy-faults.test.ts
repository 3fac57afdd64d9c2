import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RequestInfo } from '../../local/common/faults';
import { DESTINATION_BUCKET, EXPORT_BUCKET, startLocalCloud, type LocalCloud } from '../../local/cloud';
import { jobKeys, jsonEvent, loadBundledHandler, readObject, type Handler } from './helpers';

interface Outcome {
  outcome: string;
  reason?: string;
  retryable?: boolean;
  objects?: { key: string }[];
}

let cloud: LocalCloud;
let worker: Handler<Outcome>;
let jobCounter = 0;

/** Creates a Success AdobePremierePro job whose zip has `size` bytes. */
function createZipJob(size: number): string {
  jobCounter += 1;
  const jobId = `copy0fault0job${String(jobCounter).padStart(18, '0')}`;
  cloud.ims.createJob({ jobId, exportType: 'AdobePremierePro', script: [{ status: 'Success' }], project: { bucket: EXPORT_BUCKET, prefix: 'exports/', size } });
  return jobId;
}

/** Runs the worker with a role that may not read the export bucket, so the zip is downloaded. */
function runWorkerDownloading(jobId: string, timeoutSeconds = 600): Promise<Outcome> {
  const context = cloud.context('ims-export-sync-worker', { timeoutSeconds });
  cloud.oss.denyRead(EXPORT_BUCKET, context.credentials.accessKeyId!);
  return worker(jsonEvent({ jobId }), context);
}

const sourceDownload = (request: RequestInfo): boolean => request.operation === 'GetObject' && request.path.includes(`/${EXPORT_BUCKET}/`);

/** HEAD requests on the export bucket that OSS rejected with 403: the server-side copy's access check. */
function deniedSourceHeads(): number {
  return cloud.oss.requests.entries.filter((entry) => entry.operation === 'HeadObject' && entry.detail?.bucket === EXPORT_BUCKET && entry.status === 403).length;
}

function expectNothingLeft(jobId: string): void {
  expect(jobKeys(cloud, jobId)).toEqual([]);
  expect(cloud.oss.listOpenMultipartUploads(DESTINATION_BUCKET)).toEqual([]);
}

function expectZipCopied(jobId: string, outcome: Outcome): void {
  expect(outcome.outcome).toBe('copied');
  const copied = readObject(cloud, outcome.objects?.[0]?.key ?? '');
  expect(copied?.body.equals(cloud.ims.getJob(jobId)!.project!.bytes)).toBe(true);
  expect(cloud.oss.listOpenMultipartUploads(DESTINATION_BUCKET)).toEqual([]);
}

beforeAll(async () => {
  cloud = await startLocalCloud();
  Object.assign(process.env, cloud.env({ LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error' }));
  worker = loadBundledHandler<Outcome>('worker');
});

afterAll(async () => {
  await cloud.close();
});

beforeEach(() => {
  cloud.oss.faults.clear();
});

describe('worker copy under faults', () => {
  it('restarts a download dropped mid-stream', async () => {
    const jobId = createZipJob(10 * 1024 * 1024);
    cloud.oss.faults.add({ kind: 'drop', afterBytes: 3 * 1024 * 1024, stage: 'response-body' }, { match: sourceDownload });

    const outcome = await runWorkerDownloading(jobId);

    expectZipCopied(jobId, outcome);
  });

  it('leaves nothing when every download drops', async () => {
    const jobId = createZipJob(10 * 1024 * 1024);
    cloud.oss.faults.add({ kind: 'drop', afterBytes: 9 * 1024 * 1024, stage: 'response-body' }, { times: 3, match: sourceDownload });

    const outcome = await runWorkerDownloading(jobId);

    expect(outcome.outcome).toBe('error');
    expect(outcome.reason).toBe('source-interrupted');
    expect(outcome.retryable).toBe(true);
    expectNothingLeft(jobId);
  });

  it('restarts a download truncated cleanly', async () => {
    const jobId = createZipJob(2 * 1024 * 1024);
    cloud.oss.faults.add({ kind: 'truncate', afterBytes: 1024 * 1024 }, { match: sourceDownload });

    const outcome = await runWorkerDownloading(jobId);

    expectZipCopied(jobId, outcome);
  });

  it('discards and retries corrupted source bytes', async () => {
    const jobId = createZipJob(9 * 1024 * 1024);
    cloud.oss.faults.add({ kind: 'corrupt' }, { match: sourceDownload });

    const outcome = await runWorkerDownloading(jobId);

    expectZipCopied(jobId, outcome);
  });

  it('writes no manifest for corrupted bytes', async () => {
    const jobId = createZipJob(9 * 1024 * 1024);
    cloud.oss.faults.add({ kind: 'corrupt' }, { times: 3, match: sourceDownload });

    const outcome = await runWorkerDownloading(jobId);

    expect(outcome.outcome).toBe('error');
    expect(outcome.reason).toBe('source-integrity-mismatch');
    expectNothingLeft(jobId);
  });

  it('retries a copy OSS stored with a wrong CRC-64', async () => {
    const jobId = createZipJob(512 * 1024);
    cloud.oss.faults.add({ kind: 'corrupt' }, { match: (request) => request.operation === 'PutObject' && request.path.endsWith('.zip') });

    const outcome = await runWorkerDownloading(jobId);

    expectZipCopied(jobId, outcome);
  });

  it('streams when the server-side copy is denied', async () => {
    const jobId = createZipJob(1024 * 1024);
    const deniedBefore = deniedSourceHeads();
    const copiesBefore = cloud.oss.requests.count('CopyObject');

    const outcome = await runWorkerDownloading(jobId);

    expectZipCopied(jobId, outcome);
    expect(deniedSourceHeads()).toBe(deniedBefore + 1);
    expect(cloud.oss.requests.count('CopyObject')).toBe(copiesBefore);
  });

  it('refreshes a token that expires mid-upload', async () => {
    const jobId = createZipJob(20 * 1024 * 1024);
    const context = cloud.context('ims-export-sync-worker');
    cloud.oss.denyRead(EXPORT_BUCKET, context.credentials.accessKeyId!);
    const firstKeyId = context.credentials.accessKeyId!;
    // When part 2 arrives, the role's token expires and the runtime hands the context fresh credentials.
    cloud.oss.faults.add(
      { kind: 'delay', ms: 0 },
      {
        match: (request) => {
          if (request.operation !== 'UploadPart' || !request.query.has('partNumber') || request.query.get('partNumber') !== '2') return false;
          if (context.credentials.accessKeyId !== firstKeyId) return false;
          cloud.credentials.expire(firstKeyId);
          const fresh = cloud.credentials.issueStsCredentials();
          context.credentials = { accessKeyId: fresh.accessKeyId, accessKeySecret: fresh.accessKeySecret, securityToken: fresh.securityToken };
          return false;
        },
      },
    );

    const outcome = await worker(jsonEvent({ jobId }), context);

    expectZipCopied(jobId, outcome);
    const expiredRejections = cloud.oss.requests.entries.filter((entry) => entry.detail?.errorCode === 'SecurityTokenExpired');
    expect(expiredRejections.length).toBeGreaterThan(0);
    expect(context.credentials.accessKeyId).not.toBe(firstKeyId);
  });

  it('does not start a copy that cannot finish in time', async () => {
    const jobId = createZipJob(96 * 1024 * 1024);

    const outcome = await runWorkerDownloading(jobId, 20);

    expect(outcome.outcome).toBe('error');
    expect(outcome.reason).toBe('DeadlineError');
    expect(outcome.retryable).toBe(true);
    expectNothingLeft(jobId);
    const uploadsStarted = cloud.oss.requests.entries.filter(
      (entry) => entry.operation === 'InitiateMultipartUpload' && String(entry.detail?.key ?? '').startsWith(`ims-exports/${jobId}/`),
    );
    expect(uploadsStarted).toEqual([]);
  });
});
