/**
 * The fault matrix: the bundled worker (dist/worker) against the local cloud with one fault per cell, in IMS,
 * in the destination bucket (OSS) or in the download of the ProjectUrl (source). Each fault is injected once
 * (transient) or on every attempt (persistent).
 *
 * Whatever the fault, a cell must end in one of two states. Either the job is copied, with the artefact
 * byte-exact and a manifest that lists it, or it stays due, with its error recorded in the ledger and no
 * manifest. In every cell the job's prefix contains nothing but a complete artefact and the manifest, and no
 * multipart upload is left open.
 *
 * Zip jobs run with a role that may not read the export bucket, so the server-side copy is refused and the
 * zip is streamed from its ProjectUrl in 8 MiB parts.
 */
import { createServer } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc64 } from '../../lib/crc64';
import type { FcContext } from '../../lib/fc-types';
import type { RequestInfo } from '../../local/common/faults';
import { DESTINATION_BUCKET, EXPORT_BUCKET, startLocalCloud, type LocalCloud } from '../../local/cloud';
import { jobKeys, jsonEvent, loadBundledHandler, readObject, type Handler } from '../e2e/helpers';
import { recordResult } from './results';

interface Outcome {
  outcome: string;
  reason?: string;
  message?: string;
}

type ExportType = 'BaseTimeline' | 'AdobePremierePro';

interface Job {
  jobId: string;
  exportType: ExportType;
  /** Key the artefact must be copied to. */
  artefactKey: string;
  /** Bytes the artefact must have. */
  source: Buffer;
  /** Key of the zip in the export bucket, or undefined for a timeline. */
  projectKey: string | undefined;
  /** Requests that a fault of this job's cell was applied to, counted by `counted`. */
  faultHits: number;
  /** False once the run is over, so that the cell's faults no longer apply while other cells run. */
  faultsActive: boolean;
}

interface Cell {
  component: 'IMS' | 'OSS' | 'source';
  fault: string;
  variant: 'transient' | 'persistent';
  exportType: ExportType;
  expected: 'copied' | 'due';
  /** Sets the fault up for this job and this run's context. */
  inject(job: Job, context: FcContext): void;
  /** Requests that met the fault, read from the emulators' logs or the outcome once the run is over. */
  hits(job: Job, outcome: Outcome): number;
  /** Hits that show the fault took effect. Default: 1 when transient, 2 (a retry met it too) when persistent. */
  minimumHits?: number;
  /** Runs the worker. Default: the bundled worker with `context`. */
  run?(job: Job, context: FcContext): Promise<Outcome>;
}

const WORKER_FUNCTION = 'ims-export-sync-worker';
const OUTPUT_PREFIX = 'ims-exports/';
const STATE_PREFIX = 'ims-exports/.state/';
/** Three parts at the default part size of 8 MiB. */
const ZIP_SIZE = 17 * 1024 * 1024;
/** Where drops and truncations cut the download: after the first part is uploaded, inside the second. */
const SOURCE_CUT_BYTES = 10 * 1024 * 1024;
/** Well above every attempt a run makes, so that a fault stays until its cell turns it off. */
const EVERY_ATTEMPT = 1_000;
/** IMS read and connect timeout of the cells, in seconds. The slow-answer cells delay IMS past it. */
const IMS_TIMEOUT_SECONDS = 1;
const IMS_SLOW_ANSWER_MS = 1_500;
const TIMELINE = '{"VideoTracks":[{"VideoTrackClips":[{"MediaURL":"https://example.com/clip.mp4","In":0,"Out":4}]}]}';

let cloud: LocalCloud;
let worker: Handler<Outcome>;
let jobCounter = 0;

function createJob(exportType: ExportType, zipSize = ZIP_SIZE): Job {
  jobCounter += 1;
  const jobId = `fault0matrix0job${String(jobCounter).padStart(16, '0')}`;
  if (exportType === 'BaseTimeline') {
    cloud.ims.createJob({ jobId, script: [{ status: 'Success' }], timeline: TIMELINE });
    return { jobId, exportType, artefactKey: `${OUTPUT_PREFIX}${jobId}/timeline.json`, source: Buffer.from(TIMELINE), projectKey: undefined, faultHits: 0, faultsActive: true };
  }

  const snapshot = cloud.ims.createJob({
    jobId,
    exportType,
    script: [{ status: 'Success' }],
    project: { bucket: EXPORT_BUCKET, prefix: 'exports/', size: zipSize },
  });
  const project = snapshot.project!;
  const artefactKey = `${OUTPUT_PREFIX}${jobId}/${path.posix.basename(project.key)}`;
  return { jobId, exportType, artefactKey, source: project.bytes, projectKey: project.key, faultHits: 0, faultsActive: true };
}

/** Creates a context whose role may not read the export bucket, so that a zip is downloaded, not copied inside OSS. */
function downloadingContext(): FcContext {
  const context = cloud.context(WORKER_FUNCTION);
  cloud.oss.denyRead(EXPORT_BUCKET, context.credentials.accessKeyId!);
  return context;
}

// Matchers of the requests a fault applies to, each limited to one job. ali-oss names the destination bucket
// in the Host header, so its request paths start with the key; the presigned source URL is path-style.

const imsCallFor = (job: Job) => (request: RequestInfo) => request.operation === 'GetProjectExportJob' && request.query.get('JobId') === job.jobId;

const requestUnder = (job: Job, operation?: string) => (request: RequestInfo) =>
  request.path.startsWith(`/${OUTPUT_PREFIX}${job.jobId}/`) && (operation === undefined || request.operation === operation);

const partOf = (job: Job, partNumber?: string) => (request: RequestInfo) =>
  requestUnder(job, 'UploadPart')(request) && (partNumber === undefined || request.query.get('partNumber') === partNumber);

const manifestWriteOf = (job: Job) => (request: RequestInfo) => requestUnder(job, 'PutObject')(request) && request.path.endsWith('/manifest.json');

const sourceDownloadOf = (job: Job) => (request: RequestInfo) =>
  request.operation === 'GetObject' && request.path === `/${EXPORT_BUCKET}/${job.projectKey}`;

/**
 * Wraps a matcher so that it selects requests only while the job's faults are active, and counts each request
 * it selects in `job.faultHits`. Cells run concurrently, so a cell turns its faults off instead of clearing
 * every emulator's rules.
 */
function counted(job: Job, match: (request: RequestInfo) => boolean): (request: RequestInfo) => boolean {
  return (request) => {
    const selected = job.faultsActive && match(request);
    if (selected) job.faultHits += 1;
    return selected;
  };
}

const countedHits = (job: Job): number => job.faultHits;

/** Requests for the job's zip that OSS rejected with 403, as it rejects an expired presigned URL. */
function expiredUrlHits(job: Job): number {
  return cloud.oss.requests.entries.filter((entry) => entry.detail?.bucket === EXPORT_BUCKET && entry.detail?.key === job.projectKey && entry.status === 403).length;
}

/** Writes under the job's prefix that OSS rejected because their STS token had expired. */
function expiredTokenHits(job: Job): number {
  const jobPrefix = `${OUTPUT_PREFIX}${job.jobId}/`;
  return cloud.oss.requests.entries.filter((entry) => entry.detail?.errorCode === 'SecurityTokenExpired' && String(entry.detail?.key ?? '').startsWith(jobPrefix)).length;
}

/** AccessKey ID a V4-signed OSS request names in its Authorization header. */
function signingKeyOf(request: RequestInfo): string | undefined {
  const authorization = request.headers['authorization'];
  return /Credential=([^/,\s]+)/.exec(String(authorization ?? ''))?.[1];
}

/**
 * Lets the STS token of `context` expire when the first request of each chosen part arrives signed with it,
 * and hands the context fresh credentials, as the FC runtime does when it renews the role's token.
 */
function expireTokenAtParts(job: Job, context: FcContext, partNumbers: (partNumber: string) => boolean): void {
  const seen = new Set<string>();
  cloud.oss.faults.add(
    { kind: 'delay', ms: 0 },
    {
      times: EVERY_ATTEMPT,
      match: (request) => {
        if (!job.faultsActive || !partOf(job)(request)) return false;
        const partNumber = request.query.get('partNumber') ?? '';
        if (!partNumbers(partNumber) || seen.has(partNumber)) return false;
        seen.add(partNumber);

        const signedWith = signingKeyOf(request);
        if (signedWith === undefined || signedWith !== context.credentials.accessKeyId) return false;
        cloud.credentials.expire(signedWith);
        const fresh = cloud.credentials.issueStsCredentials();
        context.credentials = { accessKeyId: fresh.accessKeyId, accessKeySecret: fresh.accessKeySecret, securityToken: fresh.securityToken };
        return false;
      },
    },
  );
}

/** Returns a loopback port with nothing listening on it, so that a connection to it is refused. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Loads a new instance of a bundle and calls it with `overrides` in the environment. A handler reads its
 * settings before its first await, so the environment is restored as soon as `call` returns its promise,
 * before cells that run meanwhile could see the overrides.
 */
function withFreshBundle<R>(name: 'worker' | 'poller', overrides: Record<string, string>, call: (handler: Handler<R>) => Promise<R>): Promise<R> {
  const saved = Object.fromEntries(Object.keys(overrides).map((variable) => [variable, process.env[variable]]));
  const handler = loadBundledHandler<R>(name, { fresh: true });
  Object.assign(process.env, overrides);
  try {
    return call(handler);
  } finally {
    for (const [variable, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[variable];
      else process.env[variable] = value;
    }
  }
}

const CELLS: Cell[] = [
  {
    component: 'IMS',
    fault: 'throttling',
    variant: 'transient',
    exportType: 'BaseTimeline',
    expected: 'copied',
    inject: (job) => cloud.ims.faults.add({ kind: 'throttle' }, { match: counted(job, imsCallFor(job)) }),
    hits: countedHits,
  },
  {
    component: 'IMS',
    fault: 'throttling',
    variant: 'persistent',
    exportType: 'BaseTimeline',
    expected: 'due',
    inject: (job) => cloud.ims.faults.add({ kind: 'throttle' }, { times: EVERY_ATTEMPT, match: counted(job, imsCallFor(job)) }),
    hits: countedHits,
  },
  {
    component: 'IMS',
    fault: 'HTTP 503',
    variant: 'transient',
    exportType: 'BaseTimeline',
    expected: 'copied',
    inject: (job) => cloud.ims.faults.add({ kind: 'error', status: 503 }, { match: counted(job, imsCallFor(job)) }),
    hits: countedHits,
  },
  {
    component: 'IMS',
    fault: 'HTTP 500',
    variant: 'persistent',
    exportType: 'BaseTimeline',
    expected: 'due',
    inject: (job) => cloud.ims.faults.add({ kind: 'error', status: 500 }, { times: EVERY_ATTEMPT, match: counted(job, imsCallFor(job)) }),
    hits: countedHits,
  },
  {
    component: 'IMS',
    fault: 'HTML 502 page',
    variant: 'transient',
    exportType: 'BaseTimeline',
    expected: 'copied',
    inject: (job) => cloud.ims.faults.add({ kind: 'error', status: 502, html: true }, { match: counted(job, imsCallFor(job)) }),
    hits: countedHits,
  },
  {
    component: 'IMS',
    fault: 'HTML 502 page',
    variant: 'persistent',
    exportType: 'BaseTimeline',
    expected: 'due',
    inject: (job) => cloud.ims.faults.add({ kind: 'error', status: 502, html: true }, { times: EVERY_ATTEMPT, match: counted(job, imsCallFor(job)) }),
    hits: countedHits,
  },
  {
    component: 'IMS',
    fault: `answer slower than the ${IMS_TIMEOUT_SECONDS} s timeout`,
    variant: 'transient',
    exportType: 'BaseTimeline',
    expected: 'copied',
    inject: (job) => cloud.ims.faults.add({ kind: 'delay', ms: IMS_SLOW_ANSWER_MS }, { match: counted(job, imsCallFor(job)) }),
    hits: countedHits,
  },
  {
    component: 'IMS',
    fault: `answer slower than the ${IMS_TIMEOUT_SECONDS} s timeout`,
    variant: 'persistent',
    exportType: 'BaseTimeline',
    expected: 'due',
    inject: (job) => cloud.ims.faults.add({ kind: 'delay', ms: IMS_SLOW_ANSWER_MS }, { times: EVERY_ATTEMPT, match: counted(job, imsCallFor(job)) }),
    hits: countedHits,
  },
  {
    component: 'IMS',
    fault: 'connection refused',
    variant: 'persistent',
    exportType: 'BaseTimeline',
    expected: 'due',
    inject: () => undefined,
    // Nothing listens on the port, so no emulator logs the attempts. The outcome's message names the refusal.
    hits: (_job, outcome) => (outcome.message?.includes('ECONNREFUSED') ? 1 : 0),
    minimumHits: 1,
    run: async (job, context) => {
      const imsEndpoint = `http://127.0.0.1:${await closedPort()}`;
      return withFreshBundle<Outcome>('worker', { IMS_ENDPOINT: imsEndpoint }, (freshWorker) => freshWorker(jsonEvent({ jobId: job.jobId }), context));
    },
  },
  {
    component: 'OSS',
    fault: 'connection dropped mid-part',
    variant: 'transient',
    exportType: 'AdobePremierePro',
    expected: 'copied',
    inject: (job) => cloud.oss.faults.add({ kind: 'drop', afterBytes: 1024 * 1024, stage: 'request-body' }, { match: counted(job, partOf(job, '2')) }),
    hits: countedHits,
  },
  {
    component: 'OSS',
    fault: 'connection dropped mid-part',
    variant: 'persistent',
    exportType: 'AdobePremierePro',
    expected: 'due',
    inject: (job) => cloud.oss.faults.add({ kind: 'drop', afterBytes: 1024 * 1024, stage: 'request-body' }, { times: EVERY_ATTEMPT, match: counted(job, partOf(job)) }),
    hits: countedHits,
  },
  {
    component: 'OSS',
    fault: 'HTTP 503 on UploadPart',
    variant: 'transient',
    exportType: 'AdobePremierePro',
    expected: 'copied',
    inject: (job) => cloud.oss.faults.add({ kind: 'error', status: 503 }, { match: counted(job, partOf(job, '2')) }),
    hits: countedHits,
  },
  {
    component: 'OSS',
    fault: 'HTTP 500 on UploadPart',
    variant: 'persistent',
    exportType: 'AdobePremierePro',
    expected: 'due',
    inject: (job) => cloud.oss.faults.add({ kind: 'error', status: 500 }, { times: EVERY_ATTEMPT, match: counted(job, partOf(job)) }),
    hits: countedHits,
  },
  {
    component: 'OSS',
    fault: 'HTTP 500 on CompleteMultipartUpload',
    variant: 'persistent',
    exportType: 'AdobePremierePro',
    expected: 'due',
    inject: (job) => cloud.oss.faults.add({ kind: 'error', status: 500 }, { times: EVERY_ATTEMPT, match: counted(job, requestUnder(job, 'CompleteMultipartUpload')) }),
    hits: countedHits,
  },
  {
    component: 'OSS',
    fault: 'HTTP 503 on the manifest PutObject',
    variant: 'transient',
    exportType: 'AdobePremierePro',
    expected: 'copied',
    inject: (job) => cloud.oss.faults.add({ kind: 'error', status: 503 }, { match: counted(job, manifestWriteOf(job)) }),
    hits: countedHits,
  },
  {
    component: 'OSS',
    fault: 'HTTP 500 on the manifest PutObject',
    variant: 'persistent',
    exportType: 'AdobePremierePro',
    expected: 'due',
    inject: (job) =>
      cloud.oss.faults.add(
        { kind: 'error', status: 500 },
        { times: EVERY_ATTEMPT, match: counted(job, manifestWriteOf(job)) },
      ),
    hits: countedHits,
  },
  {
    component: 'OSS',
    fault: 'STS token expires mid-upload, refreshed from the context',
    variant: 'transient',
    exportType: 'AdobePremierePro',
    expected: 'copied',
    inject: (job, context) => expireTokenAtParts(job, context, (partNumber) => partNumber === '2'),
    hits: expiredTokenHits,
  },
  {
    component: 'OSS',
    fault: 'STS token expires at every part, refreshed from the context',
    variant: 'persistent',
    exportType: 'AdobePremierePro',
    expected: 'copied',
    inject: (job, context) => expireTokenAtParts(job, context, () => true),
    hits: expiredTokenHits,
  },
  {
    component: 'source',
    fault: 'connection dropped mid-download',
    variant: 'transient',
    exportType: 'AdobePremierePro',
    expected: 'copied',
    inject: (job) => cloud.oss.faults.add({ kind: 'drop', afterBytes: SOURCE_CUT_BYTES, stage: 'response-body' }, { match: counted(job, sourceDownloadOf(job)) }),
    hits: countedHits,
  },
  {
    component: 'source',
    fault: 'connection dropped mid-download',
    variant: 'persistent',
    exportType: 'AdobePremierePro',
    expected: 'due',
    inject: (job) =>
      cloud.oss.faults.add({ kind: 'drop', afterBytes: SOURCE_CUT_BYTES, stage: 'response-body' }, { times: EVERY_ATTEMPT, match: counted(job, sourceDownloadOf(job)) }),
    hits: countedHits,
  },
  {
    component: 'source',
    fault: 'body truncated, response ended cleanly',
    variant: 'transient',
    exportType: 'AdobePremierePro',
    expected: 'copied',
    inject: (job) => cloud.oss.faults.add({ kind: 'truncate', afterBytes: SOURCE_CUT_BYTES }, { match: counted(job, sourceDownloadOf(job)) }),
    hits: countedHits,
  },
  {
    component: 'source',
    fault: 'body truncated, response ended cleanly',
    variant: 'persistent',
    exportType: 'AdobePremierePro',
    expected: 'due',
    inject: (job) => cloud.oss.faults.add({ kind: 'truncate', afterBytes: SOURCE_CUT_BYTES }, { times: EVERY_ATTEMPT, match: counted(job, sourceDownloadOf(job)) }),
    hits: countedHits,
  },
  {
    component: 'source',
    fault: 'ProjectUrl expired',
    variant: 'transient',
    exportType: 'AdobePremierePro',
    expected: 'copied',
    inject: (job) => cloud.ims.setProjectUrlPolicy(job.jobId, { expiredResponses: 1 }),
    hits: expiredUrlHits,
  },
  {
    component: 'source',
    fault: 'ProjectUrl expired',
    variant: 'persistent',
    exportType: 'AdobePremierePro',
    expected: 'due',
    inject: (job) => cloud.ims.setProjectUrlPolicy(job.jobId, { expiredResponses: EVERY_ATTEMPT }),
    hits: expiredUrlHits,
  },
  {
    component: 'source',
    fault: 'ProjectUrl expired, IMS fails the refresh with HTTP 503',
    variant: 'persistent',
    exportType: 'AdobePremierePro',
    expected: 'due',
    inject: (job) => {
      cloud.ims.setProjectUrlPolicy(job.jobId, { expiredResponses: EVERY_ATTEMPT });
      let firstCallSeen = false;
      const isRefresh = (request: RequestInfo): boolean => {
        if (!imsCallFor(job)(request)) return false;
        if (firstCallSeen) return true;
        firstCallSeen = true;
        return false;
      };
      cloud.ims.faults.add({ kind: 'error', status: 503 }, { times: EVERY_ATTEMPT, match: counted(job, isRefresh) });
    },
    hits: (job) => Math.min(expiredUrlHits(job), countedHits(job)),
  },
];

/** Faults left out of the matrix, with the reason, for the report. */
const LEFT_OUT = [
  {
    component: 'IMS',
    fault: 'connection refused, transient',
    reason: 'a closed port refuses every attempt, and a refusal followed by responses takes the same retry path as a transient HTTP 503',
  },
  {
    component: 'OSS',
    fault: 'STS token that expires and is never refreshed',
    reason:
      'no request to the bucket can succeed, so neither the ledger record nor the abort of the upload can be written. The next run that takes the job lease aborts the open upload',
  },
];

/** Checks every invariant of a cell and returns each one's result by name. */
function checkInvariants(cell: Cell, job: Job, outcome: Outcome): Record<string, boolean> {
  const manifestKey = `${OUTPUT_PREFIX}${job.jobId}/manifest.json`;
  const sourceCrc = crc64(job.source);
  const artefact = readObject(cloud, job.artefactKey);
  const artefactComplete = artefact !== undefined && artefact.size === job.source.length && artefact.crc64 === sourceCrc;
  const manifestObject = readObject(cloud, manifestKey);
  const manifest = manifestObject === undefined ? undefined : (JSON.parse(manifestObject.body.toString('utf8')) as { objects?: { key: string; size: number; crc64: string }[] });
  const ledgerObject = readObject(cloud, `${STATE_PREFIX}jobs/${job.jobId}.json`);
  const ledger = ledgerObject === undefined ? undefined : (JSON.parse(ledgerObject.body.toString('utf8')) as { lastOutcome?: string; lastReason?: string });
  const hits = cell.hits(job, outcome);

  const checks: Record<string, boolean> = {
    'fault injected': hits >= (cell.minimumHits ?? (cell.variant === 'transient' ? 1 : 2)),
  };
  if (cell.expected === 'copied') {
    checks['outcome copied'] = outcome.outcome === 'copied';
    checks['artefact byte-exact'] = artefact?.body.equals(job.source) === true;
    checks['manifest lists the artefact'] =
      manifest?.objects?.some((object) => object.key === job.artefactKey && object.size === job.source.length && object.crc64 === sourceCrc) === true;
    checks['job left the ledger'] = ledger === undefined;
  } else {
    checks['outcome not finished'] = outcome.outcome === 'error' || outcome.outcome === 'pending';
    checks['error recorded in the ledger'] = ledger !== undefined && ledger.lastOutcome === outcome.outcome && ledger.lastReason === outcome.reason;
    checks['no manifest'] = manifestObject === undefined;
  }
  checks['only complete objects'] = jobKeys(cloud, job.jobId).every((key) => key === manifestKey || (key === job.artefactKey && artefactComplete));
  checks['no manifest without artefact'] = manifestObject === undefined || artefactComplete;
  checks['no open multipart upload'] = cloud.oss.listOpenMultipartUploads(DESTINATION_BUCKET).every((upload) => !upload.key.startsWith(`${OUTPUT_PREFIX}${job.jobId}/`));
  return checks;
}

function cellName(cell: Cell): string {
  return `${cell.component} ${cell.fault}, ${cell.variant}: ${cell.expected === 'copied' ? 'copies' : 'stays due'}`;
}

beforeAll(async () => {
  cloud = await startLocalCloud();
  Object.assign(process.env, cloud.env({ LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error', IMS_TIMEOUT_SECONDS: String(IMS_TIMEOUT_SECONDS) }));
  worker = loadBundledHandler<Outcome>('worker');
});

afterAll(async () => {
  for (const entry of LEFT_OUT) recordResult({ kind: 'left-out', ...entry });
  await cloud.close();
});

declare module 'vitest' {
  interface TaskMeta {
    /** Set by a test marked `it.fails` because of a known product bug; the report shows it. */
    knownBug?: string;
  }
}

describe('fault matrix after a timer dispatch', () => {
  it('records the error of a dispatched run', async () => {
    const job = createJob('AdobePremierePro', 1024 * 1024);
    cloud.fc.register(
      WORKER_FUNCTION,
      async (event, context) => {
        cloud.oss.denyRead(EXPORT_BUCKET, context.credentials.accessKeyId!);
        return worker(event, context);
      },
      { timeoutSeconds: 600 },
    );
    cloud.oss.faults.add({ kind: 'truncate', afterBytes: 512 * 1024 }, { times: EVERY_ATTEMPT, match: counted(job, sourceDownloadOf(job)) });
    const timerEvent = jsonEvent({ triggerTime: new Date().toISOString(), triggerName: 'poll', payload: JSON.stringify({ jobIds: [job.jobId] }) });

    const tick = await withFreshBundle<{ jobs: { jobId: string; outcome: string }[] }>('poller', { WORKER_FUNCTION }, (poller) =>
      poller(timerEvent, cloud.context('ims-export-sync-poller', { timeoutSeconds: 300 })),
    );
    await cloud.fc.drain();
    job.faultsActive = false;

    const workerOutcome = cloud.fc.invocations.find((invocation) => invocation.payload.includes(job.jobId))?.result as Outcome | undefined;
    const ledgerObject = readObject(cloud, `${STATE_PREFIX}jobs/${job.jobId}.json`);
    const ledger = ledgerObject === undefined ? undefined : (JSON.parse(ledgerObject.body.toString('utf8')) as { lastOutcome?: string; lastReason?: string });
    expect(tick.jobs.find((entry) => entry.jobId === job.jobId)?.outcome).toBe('dispatched');
    expect(workerOutcome?.reason).toBe('source-integrity-mismatch');
    expect(ledger?.lastOutcome).toBe('error');
    expect(ledger?.lastReason).toBe('source-integrity-mismatch');
  });
});

// The cells share one local cloud and run concurrently: each uses its own job, and its faults match only that
// job's requests.
describe.concurrent('fault matrix', () => {
  for (const cell of CELLS) {
    const name = cellName(cell);

    it(name, async ({ task, expect }) => {
      const job = createJob(cell.exportType);
      const context = cell.exportType === 'AdobePremierePro' ? downloadingContext() : cloud.context(WORKER_FUNCTION);
      cell.inject(job, context);

      const outcome = await (cell.run?.(job, context) ?? worker(jsonEvent({ jobId: job.jobId }), context));

      job.faultsActive = false;
      const checks = checkInvariants(cell, job, outcome);
      recordResult({
        kind: 'fault-cell',
        test: task.fullTestName,
        component: cell.component,
        fault: cell.fault,
        variant: cell.variant,
        exportType: cell.exportType,
        expected: cell.expected,
        outcome: outcome.outcome,
        reason: outcome.reason,
        checks,
      });
      const seen = `outcome ${outcome.outcome}${outcome.reason ? ` (${outcome.reason}: ${outcome.message})` : ''}`;
      // Soft asserts, so that a failing cell reports every invariant it broke, not only the first.
      for (const [check, held] of Object.entries(checks)) {
        expect.soft(held, `${check}; ${seen}`).toBe(true);
      }
    });
  }
});
