/**
 * The poller function end to end: the bundle from dist/poller against the local cloud, with the ledger
 * in the destination bucket and, where WORKER_FUNCTION is set, the bundled worker behind the local FC
 * invoke API.
 *
 * A bundle reads its settings once, at its first invocation. Each `describe` therefore loads a fresh copy
 * of the poller bundle after it has set the environment it tests.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { Ledger, type LedgerRecord } from '../../lib/ledger';
import { OssBucket } from '../../lib/oss';
import { DESTINATION_BUCKET, startLocalCloud, type LocalCloud } from '../../local/cloud';
import { jobKeys, jsonEvent, loadBundledHandler, readJson, type Handler } from './helpers';

const WORKER_FUNCTION = 'ims-export-sync-worker';
const STATE_PREFIX = 'ims-exports/.state/';
const SETTING_NAMES = ['WORKER_FUNCTION', 'STATE_PREFIX', 'JOB_MAX_AGE_HOURS'];
const HOUR_MS = 3_600_000;
/** JOB_LEASE_SECONDS's default, in milliseconds. */
const LEASE_MS = 300_000;

interface TickResult {
  triggerTime?: string;
  rejectedJobIds: string[];
  due: number;
  started: number;
  deferred: number;
  outcomes: Record<string, number>;
  jobs: { jobId: string; outcome: string; reason?: string }[];
}

let cloud: LocalCloud;
let poller: Handler<TickResult>;
/** Ledger used only to compute key names as the product lays them out; it sends no request. */
let keyLayout: Ledger;

function useSettings(overrides: Record<string, string>): void {
  for (const name of SETTING_NAMES) delete process.env[name];
  Object.assign(process.env, cloud.env({ LOG_LEVEL: 'error', ...overrides }));
  poller = loadBundledHandler<TickResult>('poller', { fresh: true });
  const bucket = new OssBucket({ ossBucket: DESTINATION_BUCKET, ossRegion: 'oss-cn-shanghai', ossEndpoint: cloud.oss.url, ossInternal: false }, cloud.userKey);
  keyLayout = new Ledger(bucket, overrides.STATE_PREFIX ?? STATE_PREFIX);
}

function tick(options: { jobIds?: unknown; payload?: string; timeoutSeconds?: number } = {}): Promise<TickResult> {
  const payload = options.payload ?? (options.jobIds === undefined ? '' : JSON.stringify({ jobIds: options.jobIds }));
  const event = { triggerTime: '2024-05-01T08:00:00Z', triggerName: 'poll', payload };
  return poller(jsonEvent(event), cloud.context('ims-export-sync-poller', { timeoutSeconds: options.timeoutSeconds ?? 300 }));
}

function outcomeOf(result: TickResult, jobId: string): string | undefined {
  return result.jobs.find((job) => job.jobId === jobId)?.outcome;
}

/** Writes a ledger record and its due marker straight into the emulator's store, as an earlier run would have. */
async function seedRecord(jobId: string, fields: { dueAtMs: number; registeredAtMs?: number; attempts?: number }): Promise<LedgerRecord> {
  const record: LedgerRecord = {
    ledgerVersion: 1,
    jobId,
    registeredAtMs: fields.registeredAtMs ?? fields.dueAtMs,
    dueAtMs: fields.dueAtMs,
    dueKey: keyLayout.dueKey(jobId, fields.dueAtMs),
    attempts: fields.attempts ?? 0,
    registeredBy: 'callback',
  };
  await cloud.oss.putObjectDirect(DESTINATION_BUCKET, record.dueKey, Buffer.alloc(0));
  await cloud.oss.putObjectDirect(DESTINATION_BUCKET, keyLayout.recordKey(jobId), Buffer.from(JSON.stringify(record)), { contentType: 'application/json' });
  return record;
}

/** Lists the ledger's keys for one job: its record and every due marker naming it. */
function ledgerKeys(jobId: string, prefix = STATE_PREFIX): string[] {
  return cloud.oss.listKeys(DESTINATION_BUCKET, prefix).filter((key) => key.endsWith(`_${jobId}`) || key.endsWith(`/${jobId}.json`));
}

function readRecord(jobId: string): LedgerRecord | undefined {
  const object = cloud.oss.getObjectDirect(DESTINATION_BUCKET, keyLayout.recordKey(jobId));
  return object === undefined ? undefined : (JSON.parse(object.body.toString('utf8')) as LedgerRecord);
}

function imsCalls(jobId?: string): number {
  return cloud.ims.requests.entries.filter((entry) => entry.operation === 'GetProjectExportJob' && (jobId === undefined || entry.detail?.jobId === jobId)).length;
}

function imsFaultFor(jobId: string, status: number, times: number): void {
  cloud.ims.faults.add({ kind: 'error', status }, { times, match: (request) => request.operation === 'GetProjectExportJob' && request.query.get('JobId') === jobId });
}

beforeAll(async () => {
  cloud = await startLocalCloud();
  Object.assign(process.env, cloud.env({ LOG_LEVEL: 'error' }));
  cloud.fc.register(WORKER_FUNCTION, loadBundledHandler('worker'), { timeoutSeconds: 600 });
});

afterAll(async () => {
  await cloud.close();
  for (const name of SETTING_NAMES) delete process.env[name];
});

afterEach(async () => {
  vi.restoreAllMocks();
  vi.useRealTimers();
  cloud.ims.faults.clear();
  cloud.fc.faults.clear();
  await cloud.fc.drain();
});

describe('poller syncing inline', () => {
  beforeAll(() => {
    useSettings({});
  });

  it('syncs payload jobIds in the same tick', async () => {
    const jobId = 'poller-payload-success';
    cloud.ims.createJob({ jobId, script: [{ status: 'Success' }] });

    const result = await tick({ jobIds: [jobId] });

    expect(outcomeOf(result, jobId)).toBe('copied');
    expect(result.triggerTime).toBe('2024-05-01T08:00:00Z');
    expect(readJson(cloud, `ims-exports/${jobId}/manifest.json`).result).toBe('copied');
    expect(ledgerKeys(jobId)).toEqual([]);
  });

  it('keeps a pending payload job in the ledger', async () => {
    const jobId = 'poller-payload-pending';
    cloud.ims.createJob({ jobId, script: [{ status: 'Processing' }] });
    const before = Date.now();

    const result = await tick({ jobIds: [` ${jobId} `] });

    expect(outcomeOf(result, jobId)).toBe('pending');
    const record = readRecord(jobId);
    expect(record).toMatchObject({ attempts: 1, lastOutcome: 'pending', lastStatus: 'Processing', registeredBy: 'poller' });
    expect(record!.dueAtMs).toBeGreaterThan(before);
    expect(ledgerKeys(jobId)).toEqual([record!.dueKey, keyLayout.recordKey(jobId)]);
    expect(jobKeys(cloud, jobId)).toEqual([]);
  });

  it('reports payload jobIds that are not plain IDs', async () => {
    const result = await tick({ jobIds: ['../escape', 'has space', ''] });

    expect(result.rejectedJobIds).toEqual(['../escape', 'has space', '']);
    expect(cloud.oss.listKeys(DESTINATION_BUCKET, STATE_PREFIX).some((key) => key.includes('escape'))).toBe(false);
  });

  it('syncs the valid entries of a mixed list', async () => {
    const jobId = 'poller-mixed-list';
    cloud.ims.createJob({ jobId, script: [{ status: 'Success' }] });

    const result = await tick({ jobIds: ['../x', 5, null, '', { JobId: 'a' }, ['b'], true, jobId] });

    expect(result.rejectedJobIds).toEqual(['../x', '5', 'null', '', '{"JobId":"a"}', '["b"]', 'true']);
    expect(outcomeOf(result, jobId)).toBe('copied');
  });

  it('truncates a long rejected entry', async () => {
    const result = await tick({ jobIds: ['x'.repeat(65), '/'.repeat(500), { text: 'y'.repeat(500) }] });

    expect(result.rejectedJobIds[0]).toBe('x'.repeat(65));
    expect(result.rejectedJobIds[1]).toBe(`${'/'.repeat(80)}...`);
    expect(result.rejectedJobIds[2]).toBe(`${`{"text":"${'y'.repeat(500)}"}`.slice(0, 80)}...`);
  });

  it('keeps going past a failing job', async () => {
    const jobIds = ['poller-isolated-a', 'poller-isolated-b', 'poller-isolated-c'];
    for (const jobId of jobIds) cloud.ims.createJob({ jobId, script: [{ status: 'Success' }] });
    // More failures than the IMS client's attempts, so that the job's sync ends in an error.
    imsFaultFor('poller-isolated-b', 500, 10);

    const result = await tick({ jobIds });

    expect(outcomeOf(result, 'poller-isolated-a')).toBe('copied');
    expect(outcomeOf(result, 'poller-isolated-b')).toBe('error');
    expect(outcomeOf(result, 'poller-isolated-c')).toBe('copied');
    expect(readRecord('poller-isolated-b')).toMatchObject({ attempts: 1, lastOutcome: 'error' });
    expect(jobKeys(cloud, 'poller-isolated-b')).toEqual([]);
  });

  it('finishes a job that failed on a later tick', async () => {
    const jobId = 'poller-isolated-b';
    const record = readRecord(jobId)!;
    vi.setSystemTime(record.dueAtMs + 1_000);

    const result = await tick();

    expect(outcomeOf(result, jobId)).toBe('copied');
    expect(ledgerKeys(jobId)).toEqual([]);
  });

  it('defers due jobs near the deadline', async () => {
    const jobId = 'poller-deadline-inline';
    cloud.ims.createJob({ jobId, script: [{ status: 'Success' }] });
    await seedRecord(jobId, { dueAtMs: Date.now() - 1_000 });

    const result = await tick({ timeoutSeconds: 1 });

    expect(result.started).toBe(0);
    expect(result.deferred).toBe(result.due);
    expect(result.deferred).toBeGreaterThanOrEqual(1);
    expect(imsCalls(jobId)).toBe(0);
    expect(ledgerKeys(jobId)).toHaveLength(2);

    const next = await tick();

    expect(outcomeOf(next, jobId)).toBe('copied');
  });

  it('gives up a job older than JOB_MAX_AGE_HOURS', async () => {
    const jobId = 'poller-expired-inline';
    cloud.ims.createJob({ jobId, script: [{ status: 'Processing' }] });
    await seedRecord(jobId, { dueAtMs: Date.now() - 1_000, registeredAtMs: Date.now() - 73 * HOUR_MS, attempts: 40 });

    const result = await tick();

    expect(outcomeOf(result, jobId)).toBe('given-up');
    const manifest = readJson<{ result: string; JobId: string; Status: string; error: { code: string; message: string } }>(cloud, `ims-exports/${jobId}/manifest.json`);
    expect(manifest.result).toBe('given-up');
    expect(manifest.JobId).toBe(jobId);
    expect(manifest.Status).toBe('Processing');
    expect(manifest.error.code).toBe('JobMaxAgeExceeded');
    expect(manifest.error.message).toContain('72 hours');
    expect(ledgerKeys(jobId)).toEqual([]);
  });

  it('drops a job IMS does not know after an hour', async () => {
    const jobId = 'poller-expired-unknown';
    await seedRecord(jobId, { dueAtMs: Date.now() - 1_000, registeredAtMs: Date.now() - 2 * HOUR_MS });

    const result = await tick();

    expect(outcomeOf(result, jobId)).toBe('error');
    expect(ledgerKeys(jobId)).toEqual([]);
    expect(jobKeys(cloud, jobId)).toEqual([]);
  });

  it('keeps a new job IMS does not know yet', async () => {
    const jobId = 'poller-new-unknown';
    await seedRecord(jobId, { dueAtMs: Date.now() - 1_000, registeredAtMs: Date.now() - 60_000 });

    const result = await tick();

    expect(outcomeOf(result, jobId)).toBe('error');
    expect(ledgerKeys(jobId)).not.toEqual([]);
    expect(jobKeys(cloud, jobId)).toEqual([]);
  });

  it('copies an expired job that finished', async () => {
    const jobId = 'poller-expired-success';
    cloud.ims.createJob({ jobId, script: [{ status: 'Success' }] });
    await seedRecord(jobId, { dueAtMs: Date.now() - 1_000, registeredAtMs: Date.now() - 73 * HOUR_MS });

    const result = await tick();

    expect(outcomeOf(result, jobId)).toBe('copied');
    expect(readJson(cloud, `ims-exports/${jobId}/manifest.json`).result).toBe('copied');
  });

  it('keeps a job another run is copying', async () => {
    const jobId = 'poller-lease-held';
    cloud.ims.createJob({ jobId, script: [{ status: 'Success' }] });
    // The lease objects of a run that took the job and then crashed: no other run copies it while they last.
    const window = Math.floor(Date.now() / LEASE_MS);
    for (const held of [window, window + 1]) {
      await cloud.oss.putObjectDirect(DESTINATION_BUCKET, `${STATE_PREFIX}leases/${jobId}/${held}`, Buffer.from('{"holder":"crashed-run"}'));
    }

    const first = await tick({ jobIds: [jobId] });

    expect(outcomeOf(first, jobId)).toBe('in-progress');
    expect(ledgerKeys(jobId)).toHaveLength(2);
    expect(jobKeys(cloud, jobId)).toEqual([]);

    vi.setSystemTime((window + 2) * LEASE_MS + 1_000 + HOUR_MS);
    const second = await tick();

    expect(outcomeOf(second, jobId)).toBe('copied');
    expect(ledgerKeys(jobId)).toEqual([]);
  });

  it('clears several markers of one job', async () => {
    const jobId = 'poller-many-markers';
    cloud.ims.createJob({ jobId, script: [{ status: 'Success' }] });
    // Left by runs that rescheduled the job while another run finished it and removed its record.
    for (const ageMs of [3_000, 2_000, 1_000]) {
      await cloud.oss.putObjectDirect(DESTINATION_BUCKET, keyLayout.dueKey(jobId, Date.now() - ageMs), Buffer.alloc(0));
    }

    const result = await tick();

    expect(result.jobs.filter((job) => job.jobId === jobId)).toHaveLength(3);
    expect(readJson(cloud, `ims-exports/${jobId}/manifest.json`).result).toBe('copied');
    expect(ledgerKeys(jobId)).toEqual([]);
  });

  it('removes a stale marker', async () => {
    const jobId = 'poller-stale-marker';
    cloud.ims.createJob({ jobId, script: [{ status: 'Processing' }] });
    const record = await seedRecord(jobId, { dueAtMs: Date.now() + HOUR_MS });
    const staleKey = keyLayout.dueKey(jobId, Date.now() - 1_000);
    await cloud.oss.putObjectDirect(DESTINATION_BUCKET, staleKey, Buffer.alloc(0));

    const result = await tick();

    expect(outcomeOf(result, jobId)).toBe('stale-marker');
    expect(ledgerKeys(jobId)).toEqual([record.dueKey, keyLayout.recordKey(jobId)]);
    expect(imsCalls(jobId)).toBe(0);
  });

  it('logs the per-job summary', async () => {
    const jobId = 'poller-logged';
    cloud.ims.createJob({ jobId, script: [{ status: 'Success' }] });
    const lines: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    process.env.LOG_LEVEL = 'info';
    poller = loadBundledHandler<TickResult>('poller', { fresh: true });

    await tick({ jobIds: [jobId] });

    const summary = lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((entry) => entry.message === 'Tick finished');
    expect(summary?.outcomes).toMatchObject({ copied: 1 });
    expect(summary?.jobs).toContainEqual({ jobId, outcome: 'copied' });
  });
});

describe('poller with a malformed payload', () => {
  let lines: string[];

  beforeAll(() => {
    useSettings({ LOG_LEVEL: 'warn' });
  });

  beforeEach(() => {
    lines = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
  });

  function warnings(): { message: string; problem?: string }[] {
    return lines.map((line) => JSON.parse(line) as { level: string; message: string; problem?: string }).filter((entry) => entry.level === 'warn');
  }

  it.each([
    { name: 'payload that is not JSON', payload: 'jobIds=abc', problem: 'payload is not JSON' },
    { name: 'payload that is a JSON list', payload: '["abc"]', problem: 'payload is not a JSON object' },
    { name: 'jobIds that is a string', payload: '{"jobIds": "abc"}', problem: 'jobIds is not an array' },
    { name: 'jobIds that is an object', payload: '{"jobIds": {"0": "abc"}}', problem: 'jobIds is not an array' },
  ])('warns once about a $name', async ({ payload, problem }) => {
    const keysBefore = cloud.oss.listKeys(DESTINATION_BUCKET, STATE_PREFIX);

    const result = await tick({ payload });

    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]?.message).toBe('Timer payload ignored');
    expect(warnings()[0]?.problem).toContain(problem);
    expect(result.rejectedJobIds).toEqual([]);
    expect(cloud.oss.listKeys(DESTINATION_BUCKET, STATE_PREFIX)).toEqual(keysBefore);
  });

  it('reads a payload passed as an object', async () => {
    const jobId = 'poller-object-payload';
    cloud.ims.createJob({ jobId, script: [{ status: 'Processing' }] });

    const result = await poller(jsonEvent({ triggerName: 'poll', payload: { jobIds: [jobId] } }), cloud.context('ims-export-sync-poller'));

    expect(result.rejectedJobIds).toEqual([]);
    expect(result.jobs.map((job) => job.jobId)).toContain(jobId);
  });

  it.each([
    { name: 'an event that is not JSON', event: Buffer.from('tick'), problem: 'the event is not a JSON object' },
    { name: 'a payload that is a number', event: jsonEvent({ triggerName: 'poll', payload: 42 }), problem: 'payload is neither a string nor an object' },
  ])('warns once about $name', async ({ event, problem }) => {
    const result = await poller(event, cloud.context('ims-export-sync-poller'));

    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]?.problem).toContain(problem);
    expect(result.rejectedJobIds).toEqual([]);
  });

  it.each([
    { name: 'an empty payload', payload: '' },
    { name: 'an empty object', payload: '{}' },
    { name: 'an empty jobIds list', payload: '{"jobIds": []}' },
  ])('stays silent for $name', async ({ payload }) => {
    const result = await tick({ payload });

    expect(warnings()).toEqual([]);
    expect(result.rejectedJobIds).toEqual([]);
  });

  it('stays silent for an event without payload', async () => {
    await poller(jsonEvent({ triggerTime: '2024-05-01T08:00:00Z', triggerName: 'poll' }), cloud.context('ims-export-sync-poller'));

    expect(warnings()).toEqual([]);
  });

  it('warns about rejected entries', async () => {
    await tick({ jobIds: ['../x', 5] });

    expect(warnings().map((entry) => entry.message)).toEqual(['Payload JobIds rejected']);
  });
});

describe('poller handing jobs to the worker', () => {
  beforeAll(() => {
    useSettings({ WORKER_FUNCTION });
  });

  it('dispatches a due job to the worker', async () => {
    const jobId = 'poller-dispatched';
    cloud.ims.createJob({ jobId, script: [{ status: 'Success' }] });

    const result = await tick({ jobIds: [jobId] });
    await cloud.fc.drain();

    expect(outcomeOf(result, jobId)).toBe('dispatched');
    expect(cloud.fc.invocations.filter((invocation) => invocation.payload === JSON.stringify({ jobId }))).toHaveLength(1);
    expect(readJson(cloud, `ims-exports/${jobId}/manifest.json`).result).toBe('copied');
    expect(ledgerKeys(jobId)).toEqual([]);
  });

  it('recovers a failed hand-off on the next tick', async () => {
    const jobId = 'poller-dispatch-503';
    cloud.ims.createJob({ jobId, script: [{ status: 'Success' }] });
    cloud.fc.faults.add({ kind: 'error', status: 503 }, { match: (request) => request.operation === 'InvokeFunction' });

    const first = await tick({ jobIds: [jobId] });

    expect(outcomeOf(first, jobId)).toBe('dispatch-failed');
    const record = readRecord(jobId);
    expect(record?.lastOutcome).toBe('dispatch-failed');
    expect(record!.dueAtMs).toBeLessThanOrEqual(Date.now());
    expect(jobKeys(cloud, jobId)).toEqual([]);

    const second = await tick();
    await cloud.fc.drain();

    expect(outcomeOf(second, jobId)).toBe('dispatched');
    expect(readJson(cloud, `ims-exports/${jobId}/manifest.json`).result).toBe('copied');
    expect(ledgerKeys(jobId)).toEqual([]);
  });

  it('defers due jobs near the deadline', async () => {
    const jobId = 'poller-deadline-worker';
    cloud.ims.createJob({ jobId, script: [{ status: 'Success' }] });
    await seedRecord(jobId, { dueAtMs: Date.now() - 1_000 });
    const invocationsBefore = cloud.fc.invocations.length;

    const result = await tick({ timeoutSeconds: 1 });

    expect(result.started).toBe(0);
    expect(result.deferred).toBeGreaterThanOrEqual(1);
    expect(cloud.fc.invocations).toHaveLength(invocationsBefore);
    expect(ledgerKeys(jobId)).toHaveLength(2);
  });

  it('gives up a job older than JOB_MAX_AGE_HOURS', async () => {
    const jobId = 'poller-expired-worker';
    cloud.ims.createJob({ jobId, script: [{ status: 'Processing' }] });
    await seedRecord(jobId, { dueAtMs: Date.now() - 1_000, registeredAtMs: Date.now() - 73 * HOUR_MS, attempts: 40 });

    const result = await tick();
    await cloud.fc.drain();

    expect(outcomeOf(result, jobId)).toBe('given-up');
    expect(readJson(cloud, `ims-exports/${jobId}/manifest.json`).result).toBe('given-up');
    expect(ledgerKeys(jobId)).toEqual([]);
  });

  it('gives up an expired job whose copy failed', async () => {
    const jobId = 'poller-expired-copy-failed';
    cloud.ims.createJob({ jobId, script: [{ status: 'Success' }] });
    const record = await seedRecord(jobId, { dueAtMs: Date.now() - 1_000, registeredAtMs: Date.now() - 73 * HOUR_MS, attempts: 30 });
    const failed = { ...record, lastOutcome: 'error', lastReason: 'source-not-allowed' };
    await cloud.oss.putObjectDirect(DESTINATION_BUCKET, keyLayout.recordKey(jobId), Buffer.from(JSON.stringify(failed)), { contentType: 'application/json' });
    const invocationsBefore = cloud.fc.invocations.length;

    const result = await tick();

    expect(outcomeOf(result, jobId)).toBe('given-up');
    expect(cloud.fc.invocations).toHaveLength(invocationsBefore);
    const manifest = readJson<{ result: string; Status: string; error: { message: string } }>(cloud, `ims-exports/${jobId}/manifest.json`);
    expect(manifest.result).toBe('given-up');
    expect(manifest.Status).toBe('Success');
    expect(manifest.error.message).toContain('source-not-allowed');
    expect(ledgerKeys(jobId)).toEqual([]);
  });

  it('dispatches an expired job that finished', async () => {
    const jobId = 'poller-expired-worker-success';
    cloud.ims.createJob({ jobId, script: [{ status: 'Success' }] });
    await seedRecord(jobId, { dueAtMs: Date.now() - 1_000, registeredAtMs: Date.now() - 73 * HOUR_MS });

    const result = await tick();
    await cloud.fc.drain();

    expect(outcomeOf(result, jobId)).toBe('dispatched');
    expect(readJson(cloud, `ims-exports/${jobId}/manifest.json`).result).toBe('copied');
    expect(ledgerKeys(jobId)).toEqual([]);
  });
});

describe('poller with 10,000 jobs in the ledger', () => {
  const prefix = 'ims-exports/.state-scale/';
  const dueJobIds = Array.from({ length: 10 }, (_, index) => `poller-scale-due-${index}`);

  beforeAll(async () => {
    useSettings({ STATE_PREFIX: prefix });
    const now = Date.now();
    for (let index = 0; index < 9_990; index += 1) {
      await seedRecord(`poller-scale-later-${index}`, { dueAtMs: now + HOUR_MS + index * 1_000 });
    }
    for (const [index, jobId] of dueJobIds.entries()) {
      cloud.ims.createJob({ jobId, script: [{ status: 'Success' }] });
      await seedRecord(jobId, { dueAtMs: now - 60_000 + index });
    }
  }, 120_000);

  it('reads one listing page and asks IMS 10 times', async () => {
    const listsBefore = cloud.oss.requests.count('ListObjectsV2');
    const imsCallsBefore = imsCalls();

    const result = await tick();

    expect(result.jobs.map((job) => job.outcome)).toEqual(Array(10).fill('copied'));
    expect(result.jobs.map((job) => job.jobId).sort()).toEqual([...dueJobIds].sort());
    // The ledger lists 100 keys a page: the 10 due markers and the first one not due come on the first.
    expect(cloud.oss.requests.count('ListObjectsV2') - listsBefore).toBe(1);
    expect(cloud.oss.requests.count('ListObjects')).toBe(0);
    expect(imsCalls() - imsCallsBefore).toBe(10);
    expect(cloud.oss.listKeys(DESTINATION_BUCKET, `${prefix}jobs/`)).toHaveLength(9_990);
  });
});
