import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc64 } from '../../lib/crc64';
import { DESTINATION_BUCKET, EXPORT_BUCKET, startLocalCloud, type LocalCloud } from '../../local/cloud';
import { closeServer, listenOnLoopback } from '../../local/common/http';
import { jobKeys, jsonEvent, loadBundledHandler, readJson, readObject, startCountingServer, type Handler } from './helpers';

const samplePath = new URL('../fixtures/ims/get-project-export-job-sample.json', import.meta.url);
const sampleText = readFileSync(samplePath, 'utf8');
const sample = JSON.parse(sampleText) as {
  ProjectExportJob: { JobId: string; ExportResult: { Timeline: unknown }; UserData: unknown };
};

interface Outcome {
  outcome: string;
  reason?: string;
  code?: string;
  message?: string;
  objects?: { key: string; size: number; crc64: string }[];
}

let cloud: LocalCloud;
let worker: Handler<Outcome>;

/**
 * Runs the bundled worker for one job. With `download`, the function's role may not read the export bucket,
 * so the server-side copy is refused and the zip is streamed from its ProjectUrl.
 */
function runWorker(jobId: string, options: { download?: boolean } = {}): Promise<Outcome> {
  const context = cloud.context('ims-export-sync-worker');
  if (options.download) cloud.oss.denyRead(EXPORT_BUCKET, context.credentials.accessKeyId!);
  return worker(jsonEvent({ jobId }), context);
}

/**
 * Runs a freshly loaded worker bundle, so that settings changed in `process.env` since the last run apply,
 * and restores the settings afterwards.
 */
async function runWorkerWithSettings(jobId: string, settings: Record<string, string>, options: { download?: boolean } = {}): Promise<Outcome> {
  const saved = { ...process.env };
  Object.assign(process.env, settings);
  const fresh = loadBundledHandler<Outcome>('worker', { fresh: true });
  try {
    const context = cloud.context('ims-export-sync-worker');
    if (options.download) cloud.oss.denyRead(EXPORT_BUCKET, context.credentials.accessKeyId!);
    return await fresh(jsonEvent({ jobId }), context);
  } finally {
    process.env = saved;
  }
}

/** Allows ProjectUrls on OSS's own host names; the product still reaches OSS only through OSS_ENDPOINT. */
const ALIYUN_HOSTS = { SOURCE_HOSTS: '127.0.0.1,*.aliyuncs.com' };

/**
 * Serves `body` on 127.0.0.1 with chunked transfer encoding (no Content-Length) and no CRC-64 header, and
 * returns a ProjectUrl for it.
 */
async function serveOnce(contentType: string, body: Buffer): Promise<{ projectUrl: string; close: () => Promise<void> }> {
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': contentType });
    response.end(body);
  });
  const { port } = await listenOnLoopback(server);
  return { projectUrl: `http://127.0.0.1:${port}/bucket/project.zip?Expires=1&Signature=x`, close: () => closeServer(server) };
}

function exportBucketRequests(operation: string): number {
  return cloud.oss.requests.entries.filter((entry) => entry.operation === operation && entry.detail?.bucket === EXPORT_BUCKET).length;
}

/** Builds a GetProjectExportJob body like the doc's sample but with JSON-text fields and the given overrides. */
function stringShapedBody(jobId: string, fields: Record<string, unknown>): string {
  return JSON.stringify({
    RequestId: 'request-1',
    ProjectExportJob: {
      JobId: jobId,
      ProjectId: 'project-1',
      ExportType: 'BaseTimeline',
      Status: 'Success',
      UserData: '{"Key":"Value"}',
      ...fields,
    },
  });
}

beforeAll(async () => {
  cloud = await startLocalCloud();
  Object.assign(process.env, cloud.env({ LOG_LEVEL: 'error' }));
  worker = loadBundledHandler<Outcome>('worker');
});

afterAll(async () => {
  await cloud.close();
});

describe('worker handler', () => {
  it('copies the documented sample response', async () => {
    const jobId = sample.ProjectExportJob.JobId.trim();
    cloud.ims.createJob({ jobId, rawBody: sampleText });

    const outcome = await runWorker(jobId);

    expect(outcome.outcome).toBe('copied');
    const timeline = readObject(cloud, `ims-exports/${jobId}/timeline.json`);
    expect(timeline?.body.toString('utf8')).toBe(JSON.stringify(sample.ProjectExportJob.ExportResult.Timeline));
    expect(timeline?.contentType).toBe('application/json');
    expect(timeline?.meta['ims-job-id']).toBe(jobId);
    const manifest = readJson(cloud, `ims-exports/${jobId}/manifest.json`);
    expect(manifest.JobId).toBe(jobId);
    expect(manifest.ProjectId).toBe('****fddd7748b58bf1d47e95****');
    expect(manifest.Status).toBe('Success');
    expect(manifest.result).toBe('copied');
    expect(manifest.UserData).toEqual(sample.ProjectExportJob.UserData);
    expect(manifest.Code).toBeUndefined();
    expect(manifest.Message).toBeUndefined();
  });

  it('copies a string-shaped Timeline verbatim', async () => {
    const jobId = 'string0shaped0job0000000000000001';
    const timelineText = '{"VideoTracks": [ {"VideoTrackClips": []} ]}';
    cloud.ims.createJob({ jobId, rawBody: stringShapedBody(jobId, { ExportResult: { Timeline: timelineText } }) });

    const outcome = await runWorker(jobId);

    expect(outcome.outcome).toBe('copied');
    const timeline = readObject(cloud, `ims-exports/${jobId}/timeline.json`);
    expect(timeline?.body.toString('utf8')).toBe(timelineText);
    expect(outcome.objects?.[0]?.crc64).toBe(crc64(Buffer.from(timelineText)));
    expect(readJson(cloud, `ims-exports/${jobId}/manifest.json`).UserData).toEqual({ Key: 'Value' });
  });

  it('records a failed job in its manifest', async () => {
    const jobId = 'failed0job000000000000000000000001';
    cloud.ims.createJob({ jobId, script: [{ status: 'Failed', code: 'InvalidParameter', message: 'The specified parameter is not valid.' }] });

    const outcome = await runWorker(jobId);

    expect(outcome.outcome).toBe('failed');
    expect(outcome.code).toBe('InvalidParameter');
    expect(jobKeys(cloud, jobId)).toEqual([`ims-exports/${jobId}/manifest.json`]);
    const manifest = readJson(cloud, `ims-exports/${jobId}/manifest.json`);
    expect(manifest.Status).toBe('Failed');
    expect(manifest.Code).toBe('InvalidParameter');
    expect(manifest.Message).toBe('The specified parameter is not valid.');
    expect(manifest.objects).toEqual([]);
  });

  it('writes nothing for a Processing job', async () => {
    const jobId = 'processing0job00000000000000000001';
    cloud.ims.createJob({ jobId, script: [{ status: 'Processing' }] });

    const outcome = await runWorker(jobId);

    expect(outcome.outcome).toBe('pending');
    expect(jobKeys(cloud, jobId)).toEqual([]);
  });

  it('records an invalid Timeline without writing it', async () => {
    const jobId = 'invalid0timeline000000000000000001';
    cloud.ims.createJob({ jobId, rawBody: stringShapedBody(jobId, { ExportResult: { Timeline: '{"VideoTracks": [' } }) });

    const outcome = await runWorker(jobId);

    expect(outcome.outcome).toBe('error');
    expect(outcome.reason).toBe('InvalidTimeline');
    expect(jobKeys(cloud, jobId)).toEqual([`ims-exports/${jobId}/manifest.json`]);
    const manifest = readJson<{ result: string; error: { code: string } }>(cloud, `ims-exports/${jobId}/manifest.json`);
    expect(manifest.result).toBe('invalid');
    expect(manifest.error.code).toBe('InvalidTimeline');
  });

  it('copies a zip inside OSS when allowed', async () => {
    const jobId = 'server0side0copy000000000000000001';
    cloud.ims.createJob({
      jobId,
      exportType: 'AdobePremierePro',
      script: [{ status: 'Success' }],
      project: { bucket: EXPORT_BUCKET, prefix: 'exports/', size: 3 * 1024 * 1024 },
    });
    const downloadsBefore = exportBucketRequests('GetObject');

    const outcome = await runWorker(jobId);

    expect(outcome.outcome).toBe('copied');
    expect(exportBucketRequests('GetObject')).toBe(downloadsBefore);
    const copied = readObject(cloud, outcome.objects?.[0]?.key ?? '');
    expect(copied?.body.equals(cloud.ims.getJob(jobId)!.project!.bytes)).toBe(true);
    expect(copied?.meta['ims-job-id']).toBe(jobId);
    const manifest = readJson<{ source: { copy: string } }>(cloud, `ims-exports/${jobId}/manifest.json`);
    expect(manifest.source.copy).toBe('server-side');
  });

  it('copies a multipart zip byte-exact', async () => {
    const jobId = 'premiere0zip0000000000000000000001';
    const snapshot = cloud.ims.createJob({
      jobId,
      exportType: 'AdobePremierePro',
      script: [{ status: 'Success' }],
      project: { bucket: EXPORT_BUCKET, prefix: 'exports/', size: 9 * 1024 * 1024 + 123 },
    });

    const outcome = await runWorker(jobId, { download: true });

    expect(outcome.outcome).toBe('copied');
    const zipKey = outcome.objects?.[0]?.key ?? '';
    expect(zipKey).toMatch(new RegExp(`^ims-exports/${jobId}/exported_project_[0-9a-f]{32}\\.zip$`));
    const copied = readObject(cloud, zipKey);
    const source = cloud.ims.getJob(jobId)?.project?.bytes;
    expect(snapshot.project?.key).toBeDefined();
    expect(copied?.size).toBe(source?.length);
    expect(copied?.body.equals(source!)).toBe(true);
    expect(copied?.crc64).toBe(crc64(source!));
    expect(copied?.meta['ims-job-id']).toBe(jobId);
    expect(cloud.oss.listOpenMultipartUploads(DESTINATION_BUCKET)).toEqual([]);
    const manifest = readJson<{ objects: { key: string; size: number; crc64: string }[]; source: Record<string, string> }>(
      cloud,
      `ims-exports/${jobId}/manifest.json`,
    );
    expect(manifest.objects[0]).toMatchObject({ key: zipKey, size: source!.length, crc64: crc64(source!), contentType: 'application/zip' });
    expect(manifest.source.host).toBe(new URL(cloud.oss.url).host);
    expect(manifest.source.copy).toBe('download');
    expect(JSON.stringify(manifest)).not.toMatch(/Signature|OSSAccessKeyId|Expires=/);
  });

  it('refreshes an expired ProjectUrl from IMS', async () => {
    const jobId = 'expired0url00000000000000000000001';
    cloud.ims.createJob({
      jobId,
      exportType: 'AdobePremierePro',
      script: [{ status: 'Success' }],
      project: { bucket: EXPORT_BUCKET, prefix: 'exports/', size: 200 * 1024 },
      projectUrl: { expiredResponses: 1 },
    });

    const outcome = await runWorker(jobId, { download: true });

    expect(outcome.outcome).toBe('copied');
    expect(cloud.ims.getJob(jobId)?.responses).toBe(2);
    const copied = readObject(cloud, outcome.objects?.[0]?.key ?? '');
    expect(copied?.body.equals(cloud.ims.getJob(jobId)!.project!.bytes)).toBe(true);
  });

  it('copies an http ProjectUrl inside OSS', async () => {
    const jobId = 'http0project0url00000000000000001';
    const source = Buffer.from('zip bytes of an http ProjectUrl');
    await cloud.oss.putObjectDirect(EXPORT_BUCKET, 'exports/http.zip', source);
    // The API reference's sample ProjectUrl is plain http; this one names an object the role can read.
    const projectUrl = `http://${EXPORT_BUCKET}.oss-cn-shanghai.aliyuncs.com/exports/http.zip?Expires=1&Signature=x`;
    cloud.ims.createJob({ jobId, rawBody: stringShapedBody(jobId, { ExportType: 'AdobePremierePro', ExportResult: { ProjectUrl: projectUrl } }) });

    const outcome = await runWorkerWithSettings(jobId, ALIYUN_HOSTS);

    expect(outcome.outcome).toBe('copied');
    expect(readObject(cloud, `ims-exports/${jobId}/http.zip`)?.body.equals(source)).toBe(true);
  });

  it('refuses to download an http ProjectUrl', async () => {
    const jobId = 'http0project0url00000000000000002';
    await cloud.oss.putObjectDirect(EXPORT_BUCKET, 'exports/http-denied.zip', Buffer.from('x'));
    const projectUrl = `http://${EXPORT_BUCKET}.oss-cn-shanghai.aliyuncs.com/exports/http-denied.zip?Expires=1&Signature=x`;
    cloud.ims.createJob({ jobId, rawBody: stringShapedBody(jobId, { ExportType: 'AdobePremierePro', ExportResult: { ProjectUrl: projectUrl } }) });

    const outcome = await runWorkerWithSettings(jobId, ALIYUN_HOSTS, { download: true });

    expect(outcome.outcome).toBe('error');
    expect(outcome.reason).toBe('source-not-allowed');
    expect(outcome.message).toContain('uses http');
    expect(jobKeys(cloud, jobId)).toEqual([]);
  });

  it('masks a token in the manifest UserData', async () => {
    const jobId = 'userdata0token000000000000000001';
    const userData = JSON.stringify({ NotifyAddress: 'https://example.com/callback?token=secret-token-value-123', Key: 'Value' });
    cloud.ims.createJob({ jobId, rawBody: stringShapedBody(jobId, { UserData: userData, ExportResult: { Timeline: '{"VideoTracks":[]}' } }) });

    const outcome = await runWorker(jobId);

    expect(outcome.outcome).toBe('copied');
    const manifest = readJson<{ UserData: { NotifyAddress: string; Key: string } }>(cloud, `ims-exports/${jobId}/manifest.json`);
    expect(manifest.UserData.NotifyAddress).toBe('https://example.com/callback?token=***');
    expect(manifest.UserData.Key).toBe('Value');
  });

  it('copies when the lease cannot be written', async () => {
    const jobId = 'lease0denied000000000000000000001';
    cloud.ims.createJob({ jobId, script: [{ status: 'Success' }] });
    cloud.oss.faults.add({ kind: 'error', status: 403, code: 'AccessDenied' }, { times: 100, match: (request) => request.path.includes('/leases/') });
    try {
      const outcome = await runWorker(jobId);

      expect(cloud.oss.faults.pending).toBeLessThan(100);
      expect(outcome.outcome).toBe('copied');
      expect(jobKeys(cloud, jobId)).toEqual([`ims-exports/${jobId}/manifest.json`, `ims-exports/${jobId}/timeline.json`]);
    } finally {
      cloud.oss.faults.clear();
    }
  });

  it('refuses an HTML page for a zip', async () => {
    const jobId = 'html0page0source0000000000000001';
    const source = await serveOnce('text/html', Buffer.from('<html>login</html>'));
    try {
      cloud.ims.createJob({ jobId, rawBody: stringShapedBody(jobId, { ExportType: 'AdobePremierePro', ExportResult: { ProjectUrl: source.projectUrl } }) });

      const outcome = await runWorker(jobId);

      expect(outcome.outcome).toBe('error');
      expect(outcome.reason).toBe('source-integrity-mismatch');
      expect(outcome.message).toContain('HTML page');
      expect(jobKeys(cloud, jobId)).toEqual([]);
    } finally {
      await source.close();
    }
  });

  it('copies a chunked source without checksums', async () => {
    const jobId = 'chunked0source000000000000000001';
    const bytes = Buffer.from('a zip streamed with chunked transfer encoding and no CRC-64 header');
    const source = await serveOnce('application/zip', bytes);
    try {
      cloud.ims.createJob({ jobId, rawBody: stringShapedBody(jobId, { ExportType: 'AdobePremierePro', ExportResult: { ProjectUrl: source.projectUrl } }) });

      const outcome = await runWorker(jobId);

      expect(outcome.outcome).toBe('copied');
      expect(readObject(cloud, `ims-exports/${jobId}/project.zip`)?.body.equals(bytes)).toBe(true);
    } finally {
      await source.close();
    }
  });

  it('sends no request to a host not allowed', async () => {
    const jobId = 'disallowed0host000000000000000001';
    const bystander = await startCountingServer();
    try {
      const projectUrl = `http://localhost:${bystander.port}/bucket/project.zip?Expires=1&Signature=x`;
      cloud.ims.createJob({
        jobId,
        rawBody: stringShapedBody(jobId, { ExportType: 'AdobePremierePro', ExportResult: { ProjectUrl: projectUrl } }),
      });

      const outcome = await runWorker(jobId);

      expect(outcome.outcome).toBe('error');
      expect(outcome.reason).toBe('source-not-allowed');
      expect(outcome.message).toContain('"localhost" is not allowed');
      expect(bystander.requests()).toBe(0);
      expect(jobKeys(cloud, jobId)).toEqual([]);
    } finally {
      await bystander.close();
    }
  });

  it('skips a job already synced', async () => {
    const jobId = 'second0run000000000000000000000001';
    cloud.ims.createJob({
      jobId,
      exportType: 'AdobePremierePro',
      script: [{ status: 'Success' }],
      project: { bucket: EXPORT_BUCKET, prefix: 'exports/', size: 300 * 1024 },
    });
    expect((await runWorker(jobId, { download: true })).outcome).toBe('copied');
    const downloadsBefore = exportBucketRequests('GetObject');
    const imsCallsBefore = cloud.ims.getJob(jobId)?.responses;

    const outcome = await runWorker(jobId);

    expect(outcome.outcome).toBe('already-synced');
    expect(exportBucketRequests('GetObject')).toBe(downloadsBefore);
    expect(cloud.ims.getJob(jobId)?.responses).toBe(imsCallsBefore);
  });

  it('accepts JobId in the event', async () => {
    const jobId = 'pascal0case0event0000000000000001';
    cloud.ims.createJob({ jobId, script: [{ status: 'Processing' }] });

    const outcome = await worker(jsonEvent({ JobId: jobId }), cloud.context('ims-export-sync-worker'));

    expect(outcome.outcome).toBe('pending');
  });

  it('accepts an event passed as text or object', async () => {
    const jobId = 'event0shapes00000000000000000001';
    cloud.ims.createJob({ jobId, script: [{ status: 'Processing' }] });
    const context = () => cloud.context('ims-export-sync-worker');

    const fromText = await worker(JSON.stringify({ jobId }) as unknown as Buffer, context());
    const fromObject = await worker({ jobId } as unknown as Buffer, context());

    expect(fromText.outcome).toBe('pending');
    expect(fromObject.outcome).toBe('pending');
  });

  it.each([
    { event: 'not json', reason: 'invalid-event' },
    { event: '{}', reason: 'invalid-event' },
    { event: '{"jobId": 12}', reason: 'invalid-event' },
    { event: '{"jobId": "../etc"}', reason: 'InvalidJobIdError' },
  ])('rejects event $event', async ({ event, reason }) => {
    const outcome = await worker(Buffer.from(event), cloud.context('ims-export-sync-worker'));

    expect(outcome.outcome).toBe('error');
    expect(outcome.reason).toBe(reason);
  });
});
