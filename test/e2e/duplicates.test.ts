import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RequestInfo } from '../../local/common/faults';
import { DESTINATION_BUCKET, EXPORT_BUCKET, startLocalCloud, type LocalCloud } from '../../local/cloud';
import { jobKeys, jsonEvent, loadBundledHandler, readObject, type Handler } from './helpers';

interface Outcome {
  outcome: string;
  objects?: { key: string }[];
}

const here = path.dirname(fileURLToPath(import.meta.url));
const LEASE_SECONDS = 1;

let cloud: LocalCloud;
let worker: Handler<Outcome>;
let jobCounter = 0;

function createZipJob(size: number): string {
  jobCounter += 1;
  const jobId = `duplicate0job${String(jobCounter).padStart(19, '0')}`;
  cloud.ims.createJob({ jobId, exportType: 'AdobePremierePro', script: [{ status: 'Success' }], project: { bucket: EXPORT_BUCKET, prefix: 'exports/', size } });
  return jobId;
}

/** Returns a context whose role may not read the export bucket, so that the zip is downloaded. */
function downloadingContext() {
  const context = cloud.context('ims-export-sync-worker');
  cloud.oss.denyRead(EXPORT_BUCKET, context.credentials.accessKeyId!);
  return context;
}

function sourceDownloads(jobId: string): number {
  const key = cloud.ims.getJob(jobId)?.project?.key;
  return cloud.oss.requests.entries.filter((entry) => entry.operation === 'GetObject' && entry.detail?.bucket === EXPORT_BUCKET && entry.detail?.key === key).length;
}

function expectOneCopy(jobId: string): void {
  const keys = jobKeys(cloud, jobId);
  expect(keys.filter((key) => key.endsWith('.zip'))).toHaveLength(1);
  expect(keys.filter((key) => key.endsWith('/manifest.json'))).toHaveLength(1);
  const zip = readObject(cloud, keys.find((key) => key.endsWith('.zip'))!);
  expect(zip?.body.equals(cloud.ims.getJob(jobId)!.project!.bytes)).toBe(true);
  expect(cloud.oss.listOpenMultipartUploads(DESTINATION_BUCKET)).toEqual([]);
}

/** Starts the bundled worker in a child process; resolves with its exit once killed or finished. */
function startWorkerProcess(jobId: string) {
  const child = spawn(process.execPath, [path.join(here, 'processes', 'run-worker.cjs')], {
    env: {
      PATH: process.env.PATH,
      WORKER_INPUT: JSON.stringify({
        handlerPath: path.resolve(here, '..', '..', 'dist', 'worker', 'index.js'),
        env: cloud.env({ LOG_LEVEL: 'error', JOB_LEASE_SECONDS: String(LEASE_SECONDS) }),
        context: downloadingContext(),
        event: { jobId },
      }),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, exited };
}

beforeAll(async () => {
  cloud = await startLocalCloud();
  Object.assign(process.env, cloud.env({ LOG_LEVEL: 'error', JOB_LEASE_SECONDS: String(LEASE_SECONDS) }));
  worker = loadBundledHandler<Outcome>('worker');
});

afterAll(async () => {
  await cloud.close();
});

beforeEach(() => {
  cloud.oss.faults.clear();
});

// Each case starts a child process and waits out a lease; under a loaded machine that can take a while.
describe('duplicate work', { timeout: 90_000 }, () => {
  it('downloads once for 20 concurrent runs', async () => {
    const jobId = createZipJob(12 * 1024 * 1024);

    const outcomes = await Promise.all(Array.from({ length: 20 }, () => worker(jsonEvent({ jobId }), downloadingContext())));

    const counts = outcomes.reduce<Record<string, number>>((all, outcome) => ({ ...all, [outcome.outcome]: (all[outcome.outcome] ?? 0) + 1 }), {});
    expect(counts.copied).toBe(1);
    expect((counts['in-progress'] ?? 0) + (counts['already-synced'] ?? 0)).toBe(19);
    expect(sourceDownloads(jobId)).toBe(1);
    expectOneCopy(jobId);
  });

  it.each([
    { stage: 'after the download starts', match: (request: RequestInfo) => request.operation === 'GetObject' && request.path.includes(`/${EXPORT_BUCKET}/`) },
    { stage: 'mid-upload', match: (request: RequestInfo) => request.operation === 'UploadPart' && request.query.get('partNumber') === '2' },
    { stage: 'before Complete', match: (request: RequestInfo) => request.operation === 'CompleteMultipartUpload' },
    { stage: 'before the manifest', match: (request: RequestInfo) => request.operation === 'PutObject' && request.path.endsWith('/manifest.json') },
  ])('finishes a job whose run died $stage', async ({ match }) => {
    const jobId = createZipJob(20 * 1024 * 1024);
    let reached!: () => void;
    const stageReached = new Promise<void>((resolve) => (reached = resolve));
    cloud.oss.faults.add(
      { kind: 'delay', ms: 60_000 },
      {
        match: (request) => {
          if (!match(request)) return false;
          reached();
          return true;
        },
      },
    );

    const { child, exited } = startWorkerProcess(jobId);
    await stageReached;
    child.kill('SIGKILL');
    await exited;
    cloud.oss.faults.clear();
    // The dead run held the lease for its window and the next one.
    await new Promise((resolve) => setTimeout(resolve, 2 * LEASE_SECONDS * 1000 + 200));

    const outcome = await worker(jsonEvent({ jobId }), downloadingContext());

    expect(outcome.outcome).toBe('copied');
    expectOneCopy(jobId);
  });
});
