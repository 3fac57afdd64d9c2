/**
 * The `ims-export` command end to end: dist/cli/ims-export.cjs run as a child process against the local
 * cloud, with a RAM user's AccessKey in the environment, as a customer would run it from a shell.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DESTINATION_BUCKET, EXPORT_BUCKET, startLocalCloud, type LocalCloud } from '../../local/cloud';
import { jobKeys, readJson } from './helpers';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = path.join(root, 'dist', 'cli', 'ims-export.cjs');
const STATE_PREFIX = 'ims-exports/.state/';
/** JOB_LEASE_SECONDS's default, in milliseconds. */
const LEASE_MS = 300_000;

interface CliRun {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** Standard output parsed as JSON, or undefined when it is not JSON. */
  json: Record<string, unknown> | undefined;
}

let cloud: LocalCloud;

/** Builds the environment a user would set: the local cloud's settings and a RAM user's AccessKey, nothing else. */
function userEnvironment(overrides: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string | undefined> = {
    PATH: process.env.PATH,
    ...cloud.env({ LOG_LEVEL: 'warn' }),
    ALIBABA_CLOUD_ACCESS_KEY_ID: cloud.userKey.accessKeyId,
    ALIBABA_CLOUD_ACCESS_KEY_SECRET: cloud.userKey.accessKeySecret,
    ...overrides,
  };
  return Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

/**
 * Runs the command without blocking this process, whose event loop serves the emulators the command calls.
 * `nodeArguments` go to node before the script, such as an `--import` that runs first.
 */
function runCli(args: string[], overrides: Record<string, string | undefined> = {}, nodeArguments: string[] = []): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...nodeArguments, CLI, ...args], { env: userEnvironment(overrides), timeout: 60_000 }, (error, stdout, stderr) => {
      // A process killed by the timeout has no exit code; -1 fails every exit-code assertion.
      let exitCode = 0;
      if (error !== null) exitCode = typeof error.code === 'number' ? error.code : -1;
      resolve({ exitCode, stdout, stderr, json: parseJson(stdout) });
    });
  });
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

function ledgerKeys(jobId: string): string[] {
  return cloud.oss.listKeys(DESTINATION_BUCKET, STATE_PREFIX).filter((key) => key.endsWith(`_${jobId}`) || key.endsWith(`/${jobId}.json`));
}

function readRecord(jobId: string): Record<string, unknown> | undefined {
  const object = cloud.oss.getObjectDirect(DESTINATION_BUCKET, `${STATE_PREFIX}jobs/${jobId}.json`);
  return object === undefined ? undefined : (JSON.parse(object.body.toString('utf8')) as Record<string, unknown>);
}

function jobsOf(run: CliRun): { jobId: string; outcome: string }[] {
  return (run.json?.jobs ?? []) as { jobId: string; outcome: string }[];
}

beforeAll(async () => {
  cloud = await startLocalCloud();
});

afterAll(async () => {
  await cloud.close();
});

afterEach(() => {
  cloud.ims.faults.clear();
  cloud.oss.faults.clear();
});

describe('ims-export usage', () => {
  it('prints the usage without a command', async () => {
    const run = await runCli([]);

    expect(run.exitCode).toBe(2);
    expect(run.stdout).toContain('ims-export poll');
  });

  it('prints the usage for --help', async () => {
    const run = await runCli(['--help']);

    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain('ims-export register <JobId>');
  });

  it.each([
    { name: 'an unknown command', args: ['fetch'], message: 'Unknown command "fetch"' },
    { name: 'a prototype property', args: ['toString'], message: 'Unknown command "toString"' },
    { name: 'register without JobId', args: ['register'], message: 'register takes exactly one JobId' },
    { name: 'register with two JobIds', args: ['register', 'job-1', 'job-2'], message: 'register takes exactly one JobId' },
    { name: 'register with a path', args: ['register', '../x'], message: 'is invalid' },
    { name: 'sync with an unknown option', args: ['sync', 'job-1', '--force'], message: '--force' },
    { name: 'poll with a JobId', args: ['poll', 'job-1'], message: 'poll takes no JobId' },
    { name: 'poll with a word for seconds', args: ['poll', '--timeout-seconds', 'ten'], message: '--timeout-seconds "ten" is invalid' },
    { name: 'poll with zero seconds', args: ['poll', '--timeout-seconds', '0'], message: '--timeout-seconds "0" is invalid' },
    { name: 'poll without seconds', args: ['poll', '--timeout-seconds'], message: '--timeout-seconds' },
    {
      name: 'a missing timeline file',
      args: ['submit', '--export-type', 'BaseTimeline', '--timeline-file', '/nonexistent/timeline.json'],
      message: '--timeline-file "/nonexistent/timeline.json" not found',
    },
    {
      name: 'a timeline file that is a folder',
      args: ['submit', '--export-type', 'BaseTimeline', '--timeline-file', root],
      message: `--timeline-file ${JSON.stringify(root)} could not be read`,
    },
  ])('exits 2 for $name', async ({ args, message }) => {
    const keysBefore = cloud.oss.listKeys(DESTINATION_BUCKET);

    const run = await runCli(args);

    expect(run.exitCode).toBe(2);
    expect(String(run.json?.error)).toContain(message);
    expect(run.stderr).toContain('Usage:');
    expect(cloud.oss.listKeys(DESTINATION_BUCKET)).toEqual(keysBefore);
  });

  it('exits 2 without OSS_BUCKET', async () => {
    const run = await runCli(['poll'], { OSS_BUCKET: undefined });

    expect(run.exitCode).toBe(2);
    expect(String(run.json?.error)).toContain('OSS_BUCKET is missing');
  });

  it('exits 2 without credentials', async () => {
    const run = await runCli(['register', 'job-no-key'], { ALIBABA_CLOUD_ACCESS_KEY_ID: undefined, ALIBABA_CLOUD_ACCESS_KEY_SECRET: undefined });

    expect(run.exitCode).toBe(2);
    expect(String(run.json?.error)).toContain('ALIBABA_CLOUD_ACCESS_KEY_ID');
  });

  it('exits 1 when OSS rejects the key', async () => {
    const run = await runCli(['register', 'job-bad-key'], { ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'not-the-secret' });

    expect(run.exitCode).toBe(1);
    expect(String(run.json?.error)).toContain('SignatureDoesNotMatch');
    expect(ledgerKeys('job-bad-key')).toEqual([]);
  });
});

describe('ims-export register', () => {
  // The jobs exist in IMS, so the first poll below copies them like any other due job.
  it('records the job due now', async () => {
    const jobId = 'cli-register-due';
    cloud.ims.createJob({ jobId, script: [{ status: 'Success' }] });
    const before = Date.now();

    const run = await runCli(['register', jobId]);

    expect(run.exitCode).toBe(0);
    expect(run.json).toMatchObject({ jobId, registeredBy: 'cli', attempts: 0 });
    expect(Date.parse(String(run.json?.dueAt))).toBeGreaterThanOrEqual(before - 1_000);
    expect(Date.parse(String(run.json?.dueAt))).toBeLessThanOrEqual(Date.now());
    expect(ledgerKeys(jobId)).toHaveLength(2);
    expect(readRecord(jobId)).toMatchObject({ jobId, registeredBy: 'cli' });
  });

  it('keeps the record of a job registered twice', async () => {
    const jobId = 'cli-register-twice';
    cloud.ims.createJob({ jobId, script: [{ status: 'Success' }] });
    const first = await runCli(['register', jobId]);

    const second = await runCli(['register', jobId]);

    expect(second.exitCode).toBe(0);
    expect(second.json?.registeredAt).toBe(first.json?.registeredAt);
    expect(ledgerKeys(jobId)).toHaveLength(2);
  });
});

describe('ims-export poll', () => {
  it('syncs a registered job', async () => {
    const jobId = 'cli-poll-success';
    cloud.ims.createJob({ jobId, script: [{ status: 'Success' }] });
    await runCli(['register', jobId]);

    const run = await runCli(['poll']);

    expect(run.exitCode).toBe(0);
    expect(jobsOf(run)).toContainEqual({ jobId, outcome: 'copied' });
    expect(readJson(cloud, `ims-exports/${jobId}/manifest.json`).result).toBe('copied');
    expect(ledgerKeys(jobId)).toEqual([]);
  });

  it('exits 1 when a job fails', async () => {
    const failing = 'cli-poll-failing';
    const healthy = 'cli-poll-healthy';
    cloud.ims.createJob({ jobId: failing, script: [{ status: 'Success' }] });
    cloud.ims.createJob({ jobId: healthy, script: [{ status: 'Success' }] });
    cloud.ims.faults.add({ kind: 'error', status: 500 }, { times: 10, match: (request) => request.query.get('JobId') === failing });
    await runCli(['register', failing]);
    await runCli(['register', healthy]);

    const run = await runCli(['poll']);

    expect(run.exitCode).toBe(1);
    expect(jobsOf(run)).toContainEqual(expect.objectContaining({ jobId: failing, outcome: 'error' }));
    expect(jobsOf(run)).toContainEqual({ jobId: healthy, outcome: 'copied' });
    expect(readRecord(failing)).toMatchObject({ attempts: 1, lastOutcome: 'error' });
  });

  it('defers jobs with a short timeout', async () => {
    const jobId = 'cli-poll-deferred';
    cloud.ims.createJob({ jobId, script: [{ status: 'Success' }] });
    await runCli(['register', jobId]);

    const run = await runCli(['poll', '--timeout-seconds', '5']);

    expect(run.exitCode).toBe(0);
    expect(run.json?.started).toBe(0);
    expect(run.json?.deferred).toBe(1);
    expect(ledgerKeys(jobId)).toHaveLength(2);
    expect(jobKeys(cloud, jobId)).toEqual([]);
  });
});

describe('ims-export sync', () => {
  it('records a pending job in the ledger', async () => {
    const jobId = 'cli-sync-pending';
    cloud.ims.createJob({ jobId, script: [{ status: 'Processing' }] });

    const run = await runCli(['sync', jobId]);

    expect(run.exitCode).toBe(0);
    expect(run.json).toMatchObject({ outcome: 'pending', status: 'Processing' });
    expect(readRecord(jobId)).toMatchObject({ registeredBy: 'cli', lastOutcome: 'pending', attempts: 1 });
  });

  it('takes a finished job out of the ledger', async () => {
    const jobId = 'cli-sync-pending';
    cloud.ims.setJobStatus(jobId, 'Success');

    const run = await runCli(['sync', jobId]);

    expect(run.exitCode).toBe(0);
    expect(run.json?.outcome).toBe('copied');
    expect(ledgerKeys(jobId)).toEqual([]);
  });

  it('exits 0 for a job another run holds', async () => {
    const jobId = 'cli-sync-held';
    cloud.ims.createJob({ jobId, script: [{ status: 'Success' }] });
    // The lease objects of another run copying the job, for this window and the next (default 300 s each).
    const window = Math.floor(Date.now() / LEASE_MS);
    for (const held of [window, window + 1]) {
      await cloud.oss.putObjectDirect(DESTINATION_BUCKET, `${STATE_PREFIX}leases/${jobId}/${held}`, Buffer.from('{"holder":"other-run"}'));
    }

    const run = await runCli(['sync', jobId]);

    expect(run.exitCode).toBe(0);
    expect(run.json?.outcome).toBe('in-progress');
    expect(readRecord(jobId)).toMatchObject({ jobId, registeredBy: 'cli' });
    expect(jobKeys(cloud, jobId)).toEqual([]);
  });

  it('keeps log lines off the progress bar', async () => {
    const jobId = 'cli0sync0progress000000000000001';
    cloud.ims.createJob({
      jobId,
      exportType: 'AdobePremierePro',
      script: [{ status: 'Success' }],
      project: { bucket: EXPORT_BUCKET, prefix: 'exports/', size: 9 * 1024 * 1024 },
    });
    // Denied reads of the export bucket make the command download the zip, which draws the bar.
    cloud.oss.denyRead(EXPORT_BUCKET, cloud.userKey.accessKeyId);
    // The command draws the bar only on a terminal; this makes the piped standard error claim to be one.
    const terminal = ['--import', 'data:text/javascript,process.stderr.isTTY=true'];

    let run: CliRun;
    try {
      run = await runCli(['sync', jobId], { LOG_LEVEL: 'info' }, terminal);
    } finally {
      cloud.oss.allowRead(EXPORT_BUCKET, cloud.userKey.accessKeyId);
    }

    expect(run.exitCode).toBe(0);
    expect(run.json?.outcome).toBe('copied');
    expect(run.stderr).toContain('\r[');
    // What a terminal shows of each line: the text after the last carriage return.
    const shown = run.stderr.split('\n').map((line) => line.slice(line.lastIndexOf('\r') + 1).replace(/^\x1b\[K/, ''));
    const logLines = shown.filter((line) => line.includes('{'));
    expect(logLines.length).toBeGreaterThan(0);
    for (const line of logLines) expect(() => JSON.parse(line) as unknown, line).not.toThrow();
    expect(shown.at(-2)).toMatch(/^\[#+\] 100%/);
  });

  it('exits 1 for a failed job', async () => {
    const jobId = 'cli-sync-failed';
    cloud.ims.createJob({ jobId, script: [{ status: 'Failed', code: 'InvalidParameter', message: 'The Timeline is invalid.' }] });

    const run = await runCli(['sync', jobId]);

    expect(run.exitCode).toBe(1);
    expect(run.json).toMatchObject({ outcome: 'failed', code: 'InvalidParameter' });
    expect(ledgerKeys(jobId)).toEqual([]);
  });
});

describe('ims-export submit', () => {
  it('records the new job in the ledger', async () => {
    const before = Date.now();

    const run = await runCli(['submit', '--export-type', 'BaseTimeline', '--project-id', 'project-for-cli']);

    expect(run.exitCode).toBe(0);
    const jobId = String(run.json?.jobId);
    expect(cloud.ims.getJob(jobId)?.projectId).toBe('project-for-cli');
    const record = readRecord(jobId);
    expect(record).toMatchObject({ jobId, registeredBy: 'cli', attempts: 0 });
    // Due after the first backoff, since IMS needs time to export.
    expect(record?.dueAtMs).toBeGreaterThan(before);
    expect(run.json?.ledger).toMatchObject({ jobId, dueAt: new Date(Number(record?.dueAtMs)).toISOString() });
  });

  it('prints the JobId when the ledger write fails', async () => {
    cloud.oss.faults.add({ kind: 'error', status: 403, code: 'AccessDenied' }, { times: 1, match: (request) => request.operation === 'PutObject' });

    const run = await runCli(['submit', '--export-type', 'BaseTimeline', '--project-id', 'project-ledger-down']);

    expect(run.exitCode).toBe(1);
    expect(cloud.ims.getJob(String(run.json?.jobId))?.projectId).toBe('project-ledger-down');
    expect(String(run.json?.ledgerError)).toContain('AccessDenied');
    expect(run.stderr).toContain('run register with its JobId');
  });
});
