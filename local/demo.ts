/**
 * `npm run demo`: the product's main job on the local emulators, through the bundled functions in dist/.
 *
 * 1. A BaseTimeline job whose IMS response is the API reference's sample response, synced by the worker.
 * 2. An AdobePremierePro job with a zip of a few MiB that is still Processing when IMS sends a signed callback.
 *    The callback records it and hands it to the worker through the local FC invoke API; timer ticks finish it.
 *
 * Prints what landed in the bucket and each manifest, and exits 0 only if both artefacts are byte-exact.
 * Pass --verbose to see the functions' JSON log lines.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FcContext, FcHttpResponse } from '../lib/fc-types';
import { crc64 } from '../lib/crc64';
import { DESTINATION_BUCKET, EXPORT_BUCKET, startLocalCloud, type LocalCloud } from './cloud';
import { sendIceCallback } from './ims';

type Handler<R = unknown> = (event: Buffer, context: FcContext) => Promise<R>;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const verbose = process.argv.includes('--verbose');
const WORKER_FUNCTION = 'ims-export-sync-worker';
const ZIP_SIZE = 5 * 1024 * 1024;
const PREMIERE_JOB_ID = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';

async function main(): Promise<number> {
  const cloud = await startLocalCloud();
  try {
    return await runDemo(cloud);
  } finally {
    await cloud.close();
  }
}

async function runDemo(cloud: LocalCloud): Promise<number> {
  const functions = loadBundledFunctions();
  const authKey = `Demo${Math.random().toString(36).slice(2, 10)}Key9`;
  const callback = await cloud.httpTrigger('ims-export-sync-callback', functions.callback);
  const callbackUrl = `${callback.url}/callback`;
  Object.assign(
    process.env,
    cloud.env({ CALLBACK_AUTH_KEYS: authKey, CALLBACK_URL: callbackUrl, WORKER_FUNCTION, LOG_LEVEL: verbose ? 'info' : 'warn' }),
  );
  cloud.fc.register(WORKER_FUNCTION, functions.worker, { timeoutSeconds: 600 });

  step('BaseTimeline job: IMS answers with the API reference sample response');
  const sampleText = await readFile(path.join(root, 'test/fixtures/ims/get-project-export-job-sample.json'), 'utf8');
  const sample = JSON.parse(sampleText) as { ProjectExportJob: { JobId: string; ExportResult: { Timeline: unknown } } };
  const timelineJobId = sample.ProjectExportJob.JobId.trim();
  cloud.ims.createJob({ jobId: timelineJobId, rawBody: sampleText });
  const timelineOutcome = await functions.worker(jobEvent(timelineJobId), cloud.context(WORKER_FUNCTION));
  report('worker', timelineOutcome);

  step('AdobePremierePro job: signed callback while the export is still Processing');
  cloud.ims.createJob({
    jobId: PREMIERE_JOB_ID,
    exportType: 'AdobePremierePro',
    script: [{ status: 'Processing', responses: 2 }, { status: 'Success' }],
    project: { bucket: EXPORT_BUCKET, prefix: 'exports/', size: ZIP_SIZE },
  });
  const delivery = await sendIceCallback({ url: callbackUrl, authKey, messageBody: { JobId: PREMIERE_JOB_ID, Status: 'Processing' } });
  report('callback delivery', delivery.attempts.map((attempt) => ({ status: attempt.status, ms: Math.round(attempt.durationMs) })));
  await cloud.fc.drain();
  report('worker through the FC invoke API', lastInvocationOutcome(cloud));

  for (const tick of [1, 2]) {
    step(`Timer tick ${tick}`);
    const timerEvent = { triggerTime: new Date().toISOString(), triggerName: 'poll', payload: JSON.stringify({ jobIds: [PREMIERE_JOB_ID] }) };
    const summary = await functions.poller(Buffer.from(JSON.stringify(timerEvent)), cloud.context('ims-export-sync-poller', { timeoutSeconds: 300 }));
    report('poller', summary);
    await cloud.fc.drain();
    report('worker through the FC invoke API', lastInvocationOutcome(cloud));
  }

  step('What landed in the bucket');
  const landed = await listLanded(cloud);
  console.table(landed);
  for (const key of landed.map((object) => object.key).filter((key) => key.endsWith('/manifest.json'))) {
    console.log(`\n${key}:\n${cloud.oss.getObjectDirect(DESTINATION_BUCKET, key)?.body.toString('utf8')}`);
  }

  const expectedTimeline = Buffer.from(JSON.stringify(sample.ProjectExportJob.ExportResult.Timeline));
  const expectedZip = cloud.ims.getJob(PREMIERE_JOB_ID)?.project?.bytes;
  const checks = [
    check('timeline.json equals the Timeline IMS returned', `ims-exports/${timelineJobId}/timeline.json`, expectedTimeline, cloud),
    check('the zip equals the exported project', zipKey(landed), expectedZip, cloud),
  ];
  step('Result');
  for (const result of checks) console.log(`${result.ok ? 'PASS' : 'FAIL'}  ${result.label}`);
  return checks.every((result) => result.ok) ? 0 : 1;
}

function loadBundledFunctions(): { worker: Handler; callback: Handler<FcHttpResponse>; poller: Handler } {
  const require = createRequire(import.meta.url);
  const load = (name: string) => (require(path.join(root, 'dist', name, 'index.js')) as { handler: Handler }).handler;
  return { worker: load('worker'), callback: load('callback') as Handler<FcHttpResponse>, poller: load('poller') };
}

function jobEvent(jobId: string): Buffer {
  return Buffer.from(JSON.stringify({ jobId }));
}

function lastInvocationOutcome(cloud: LocalCloud): unknown {
  const invocation = cloud.fc.invocations.at(-1);
  return invocation === undefined ? 'no invocation' : { type: invocation.invocationType, outcome: invocation.outcome, result: invocation.result };
}

async function listLanded(cloud: LocalCloud): Promise<{ key: string; size: number; crc64: string }[]> {
  const keys = cloud.oss.listKeys(DESTINATION_BUCKET, 'ims-exports/').filter((key) => !key.startsWith('ims-exports/.state/'));
  return keys.map((key) => {
    const object = cloud.oss.getObjectDirect(DESTINATION_BUCKET, key)!;
    return { key, size: object.size, crc64: object.crc64 };
  });
}

function zipKey(landed: { key: string }[]): string {
  return landed.find((object) => object.key.startsWith(`ims-exports/${PREMIERE_JOB_ID}/`) && object.key.endsWith('.zip'))?.key ?? '(none)';
}

function check(label: string, key: string, expected: Buffer | undefined, cloud: LocalCloud): { label: string; ok: boolean } {
  const actual = cloud.oss.getObjectDirect(DESTINATION_BUCKET, key)?.body;
  const ok = expected !== undefined && actual !== undefined && actual.equals(expected) && crc64(actual) === crc64(expected);
  return { label: `${label} (${key})`, ok };
}

function step(title: string): void {
  console.log(`\n== ${title}`);
}

function report(label: string, value: unknown): void {
  console.log(`${label}: ${JSON.stringify(value)}`);
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
