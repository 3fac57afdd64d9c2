import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CredentialStore } from '../../local/common/credentials';
import { generateProjectBytes, startImsEmulator, type ImsEmulator } from '../../local/ims';
import { expiresOf, FakeObjectStore } from '../fixtures/ims/fake-object-store';
import { callImsAction, createImsSdkClient, type ImsSdkClient } from '../fixtures/ims/sdk-client';

const SAMPLE_RESPONSE_TEXT = readFileSync(new URL('../fixtures/ims/get-project-export-job-sample.json', import.meta.url), 'utf8');

let credentials: CredentialStore;
let objectStore: FakeObjectStore;
let ims: ImsEmulator;
let client: ImsSdkClient;

beforeAll(async () => {
  credentials = new CredentialStore();
  objectStore = new FakeObjectStore();
  ims = await startImsEmulator({ credentials, objectStore });
  client = createImsSdkClient({ endpoint: `127.0.0.1:${ims.port}`, ...credentials.createAccessKey() });
});

afterAll(async () => {
  await ims.close();
});

async function getJob(jobId: string): Promise<Record<string, unknown>> {
  const response = await callImsAction(client, 'GetProjectExportJob', { JobId: jobId });
  return response.body['ProjectExportJob'] as Record<string, unknown>;
}

async function rejectionOf(call: Promise<unknown>): Promise<{ code?: string; statusCode?: number; message: string }> {
  try {
    await call;
  } catch (error) {
    return error as { code?: string; statusCode?: number; message: string };
  }
  throw new Error('the call succeeded');
}

describe('GetProjectExportJob', () => {
  it('follows a Processing then Success script', async () => {
    ims.createJob({ jobId: 'script-1', script: [{ status: 'Processing', responses: 2 }, { status: 'Success' }] });

    const statuses = [];
    for (let call = 0; call < 4; call += 1) statuses.push((await getJob('script-1'))['Status']);

    expect(statuses).toEqual(['Processing', 'Processing', 'Success', 'Success']);
  });

  it('runs Init, Processing, Success by default', async () => {
    ims.createJob({ jobId: 'default-script' });

    const statuses = [];
    for (let call = 0; call < 3; call += 1) statuses.push((await getJob('default-script'))['Status']);

    expect(statuses).toEqual(['Init', 'Processing', 'Success']);
  });

  it('returns RequestId beside the job', async () => {
    ims.createJob({ jobId: 'request-id', script: [{ status: 'Init' }] });
    const response = await callImsAction(client, 'GetProjectExportJob', { JobId: 'request-id' });
    expect(response.body['RequestId']).toMatch(/^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/);
  });

  it('sends ExportResult only on Success', async () => {
    ims.createJob({ jobId: 'result-on-success', script: [{ status: 'Processing' }] });
    expect(await getJob('result-on-success')).not.toHaveProperty('ExportResult');
  });

  it('sends Timeline and UserData as JSON text', async () => {
    const timeline = { VideoTracks: [] };
    ims.createJob({ jobId: 'strings', script: [{ status: 'Success' }], timeline, userData: { Key: 'value' } });

    const job = await getJob('strings');

    expect(job['ExportResult']).toEqual({ Timeline: JSON.stringify(timeline) });
    expect(job['UserData']).toBe('{"Key":"value"}');
  });

  it('sends objects with the object shape', async () => {
    const timeline = { VideoTracks: [] };
    ims.createJob({ jobId: 'objects', script: [{ status: 'Success' }], timeline, userData: { Key: 'value' }, fieldShape: 'object' });

    const job = await getJob('objects');

    expect(job['ExportResult']).toEqual({ Timeline: timeline });
    expect(job['UserData']).toEqual({ Key: 'value' });
  });

  it('switches shape between calls', async () => {
    ims.createJob({ jobId: 'switch-shape', script: [{ status: 'Success' }], userData: '{"a":1}' });
    const before = await getJob('switch-shape');

    ims.setFieldShape('switch-shape', 'object');
    const after = await getJob('switch-shape');

    expect(before['UserData']).toBe('{"a":1}');
    expect(after['UserData']).toEqual({ a: 1 });
  });

  it('reports a failed job with its code', async () => {
    ims.createJob({ jobId: 'failed', script: [{ status: 'Failed', code: 'InvalidParameter', message: 'The specified parameter is not valid.' }] });

    const job = await getJob('failed');

    expect(job['Status']).toBe('Failed');
    expect(job['Code']).toBe('InvalidParameter');
    expect(job['Message']).toBe('The specified parameter is not valid.');
  });

  it('takes a status set directly', async () => {
    ims.createJob({ jobId: 'set-status', script: [{ status: 'Processing' }] });

    ims.setJobStatus('set-status', 'Failed', { code: 'ExportError', message: 'export failed' });

    expect((await getJob('set-status'))['Code']).toBe('ExportError');
  });

  it('sends null ProjectId when asked', async () => {
    ims.createJob({ jobId: 'no-project', projectId: null, script: [{ status: 'Init' }] });
    expect((await getJob('no-project'))['ProjectId']).toBeNull();
  });

  it('returns the documented sample verbatim', async () => {
    ims.createJob({ jobId: '****cdb3e74639973036bc84****', rawBody: SAMPLE_RESPONSE_TEXT });

    const response = await callImsAction(client, 'GetProjectExportJob', { JobId: '****cdb3e74639973036bc84****' });

    expect(response.body).toEqual(JSON.parse(SAMPLE_RESPONSE_TEXT));
    expect(response.headers['content-length']).toBe(String(Buffer.byteLength(SAMPLE_RESPONSE_TEXT)));
  });

  it('keeps the sample quirks in the fixture', () => {
    const sample = JSON.parse(SAMPLE_RESPONSE_TEXT) as { ProjectExportJob: Record<string, unknown> };
    expect(sample.ProjectExportJob['JobId']).toBe('****cdb3e74639973036bc84****\n');
    expect(typeof (sample.ProjectExportJob['ExportResult'] as Record<string, unknown>)['Timeline']).toBe('object');
    expect(typeof sample.ProjectExportJob['UserData']).toBe('object');
  });

  it('rejects an unknown JobId', async () => {
    const error = await rejectionOf(getJob('no-such-job'));
    expect(error.code).toBe('InvalidParameter.JobNotFound');
    expect(error.statusCode).toBe(404);
  });

  it('rejects a missing JobId', async () => {
    const error = await rejectionOf(callImsAction(client, 'GetProjectExportJob', {}));
    expect(error.code).toBe('MissingParameter');
    expect(error.statusCode).toBe(400);
  });

  it('accepts GET requests', async () => {
    ims.createJob({ jobId: 'via-get', script: [{ status: 'Init' }] });
    const response = await callImsAction(client, 'GetProjectExportJob', { JobId: 'via-get' }, { method: 'GET' });
    expect((response.body['ProjectExportJob'] as Record<string, unknown>)['JobId']).toBe('via-get');
  });

  it('logs the action and JobId', async () => {
    ims.createJob({ jobId: 'logged', script: [{ status: 'Init' }] });
    await getJob('logged');

    const entry = ims.requests.entries.at(-1);

    expect(entry?.operation).toBe('GetProjectExportJob');
    expect(entry?.detail?.['jobId']).toBe('logged');
    expect(entry?.status).toBe(200);
  });

  it('rejects an unknown action', async () => {
    const error = await rejectionOf(callImsAction(client, 'ListProjectExportJobs', {}));
    expect(error.code).toBe('InvalidAction.NotFound');
    expect(error.statusCode).toBe(404);
  });
});

describe('GetProjectExportJob for AdobePremierePro', () => {
  const project = { bucket: 'user-bucket', prefix: 'exports/' };

  it('stores the zip under the output prefix', async () => {
    const bytes = Buffer.from('zip bytes');
    const job = ims.createJob({ jobId: 'app-store', exportType: 'AdobePremierePro', script: [{ status: 'Success' }], project: { ...project, bytes } });

    await getJob('app-store');

    expect(job.project?.key).toMatch(/^exports\/exported_project_[0-9a-f]{32}\.zip$/);
    expect(objectStore.objects.get(`user-bucket/${job.project?.key}`)?.body).toEqual(bytes);
  });

  it('stores nothing before Success', async () => {
    const job = ims.createJob({ jobId: 'app-pending', exportType: 'AdobePremierePro', script: [{ status: 'Processing' }], project });
    await getJob('app-pending');
    expect(objectStore.objects.has(`user-bucket/${job.project?.key}`)).toBe(false);
  });

  it('generates bytes of the given size', async () => {
    const job = ims.createJob({ jobId: 'app-generated', exportType: 'AdobePremierePro', script: [{ status: 'Success' }], project: { ...project, size: 100 } });

    await getJob('app-generated');

    expect(objectStore.objects.get(`user-bucket/${job.project?.key}`)?.body).toEqual(generateProjectBytes('app-generated', 100));
  });

  it('presigns a fresh URL per response', async () => {
    ims.createJob({ jobId: 'app-fresh', exportType: 'AdobePremierePro', script: [{ status: 'Success' }], project });

    const first = (await getJob('app-fresh'))['ExportResult'] as { ProjectUrl: string };
    const second = (await getJob('app-fresh'))['ExportResult'] as { ProjectUrl: string };

    expect(first.ProjectUrl).not.toBe(second.ProjectUrl);
    expect(new URL(first.ProjectUrl).pathname).toBe(new URL(second.ProjectUrl).pathname);
  });

  it('uses the configured URL lifetime', async () => {
    ims.createJob({ jobId: 'app-lifetime', exportType: 'AdobePremierePro', script: [{ status: 'Success' }], project, projectUrl: { lifetimeSeconds: 120 } });

    const url = ((await getJob('app-lifetime'))['ExportResult'] as { ProjectUrl: string }).ProjectUrl;

    expect(objectStore.presignCalls.at(-1)?.expiresInSeconds).toBe(120);
    expect(expiresOf(url)).toBeGreaterThan(Date.now() / 1000);
  });

  it('expires URLs for N responses, then not', async () => {
    ims.createJob({ jobId: 'app-expired', exportType: 'AdobePremierePro', script: [{ status: 'Success' }], project, projectUrl: { expiredResponses: 2 } });

    const expires = [];
    for (let call = 0; call < 3; call += 1) {
      expires.push(expiresOf(((await getJob('app-expired'))['ExportResult'] as { ProjectUrl: string }).ProjectUrl));
    }
    const nowSeconds = Date.now() / 1000;

    expect(expires[0]).toBeLessThan(nowSeconds);
    expect(expires[1]).toBeLessThan(nowSeconds);
    expect(expires[2]).toBeGreaterThan(nowSeconds);
  });

  it('presigns with the emulator key', async () => {
    ims.createJob({ jobId: 'app-key', exportType: 'AdobePremierePro', script: [{ status: 'Success' }], project });
    await getJob('app-key');

    const signer = objectStore.presignCalls.at(-1)?.credentials;

    expect(credentials.check(signer?.accessKeyId ?? '', undefined).ok).toBe(true);
  });
});

describe('SubmitProjectExportJob', () => {
  const output = JSON.stringify({ Bucket: 'user-bucket', Prefix: 'exports/' });

  async function submit(query: Record<string, string>): Promise<string> {
    const response = await callImsAction(client, 'SubmitProjectExportJob', query);
    return response.body['JobId'] as string;
  }

  it('returns a 32-hex JobId', async () => {
    const jobId = await submit({ ProjectId: 'project-1', ExportType: 'BaseTimeline', OutputMediaConfig: output });
    expect(jobId).toMatch(/^[0-9a-f]{32}$/);
  });

  it('creates a job on the default script', async () => {
    const jobId = await submit({ ProjectId: 'project-1', ExportType: 'BaseTimeline', OutputMediaConfig: output });

    const statuses = [];
    for (let call = 0; call < 3; call += 1) statuses.push((await getJob(jobId))['Status']);

    expect(statuses).toEqual(['Init', 'Processing', 'Success']);
  });

  it('exports the submitted Timeline', async () => {
    const timeline = JSON.stringify({ VideoTracks: [{ VideoTrackClips: [] }] });
    const jobId = await submit({ Timeline: timeline, ExportType: 'BaseTimeline', OutputMediaConfig: output, UserData: '{"k":"v"}' });
    ims.setJobStatus(jobId, 'Success');

    const job = await getJob(jobId);

    expect(job['ExportResult']).toEqual({ Timeline: timeline });
    expect(job['ProjectId']).toBeNull();
    expect(job['UserData']).toBe('{"k":"v"}');
  });

  it('writes AdobePremierePro exports to the output bucket', async () => {
    const jobId = await submit({ ProjectId: 'project-2', ExportType: 'AdobePremierePro', OutputMediaConfig: output });
    ims.setJobStatus(jobId, 'Success');

    const url = ((await getJob(jobId))['ExportResult'] as { ProjectUrl: string }).ProjectUrl;

    expect(new URL(url).pathname).toMatch(/^\/user-bucket\/exports\/exported_project_[0-9a-f]{32}\.zip$/);
  });

  const invalidRequests: Array<{ case: string; query: Record<string, string>; code: string }> = [
    { case: 'neither ProjectId nor Timeline', query: { ExportType: 'BaseTimeline', OutputMediaConfig: output }, code: 'MissingParameter' },
    { case: 'both ProjectId and Timeline', query: { ProjectId: 'p', Timeline: '{}', ExportType: 'BaseTimeline', OutputMediaConfig: output }, code: 'InvalidParameter' },
    { case: 'Timeline that is not JSON', query: { Timeline: 'tracks', ExportType: 'BaseTimeline', OutputMediaConfig: output }, code: 'InvalidParameter' },
    { case: 'missing ExportType', query: { ProjectId: 'p', OutputMediaConfig: output }, code: 'MissingParameter' },
    { case: 'unknown ExportType', query: { ProjectId: 'p', ExportType: 'FinalCut', OutputMediaConfig: output }, code: 'InvalidParameter' },
    { case: 'missing OutputMediaConfig', query: { ProjectId: 'p', ExportType: 'BaseTimeline' }, code: 'MissingParameter' },
    { case: 'OutputMediaConfig without Bucket', query: { ProjectId: 'p', ExportType: 'BaseTimeline', OutputMediaConfig: '{"Prefix":"a/"}' }, code: 'InvalidParameter' },
    { case: 'zero Width', query: { ProjectId: 'p', ExportType: 'BaseTimeline', OutputMediaConfig: '{"Bucket":"b","Width":0}' }, code: 'InvalidParameter' },
    { case: 'UserData that is not JSON', query: { ProjectId: 'p', ExportType: 'BaseTimeline', OutputMediaConfig: output, UserData: 'x' }, code: 'InvalidParameter' },
  ];

  it.each(invalidRequests)('rejects $case', async ({ query, code }) => {
    const error = await rejectionOf(callImsAction(client, 'SubmitProjectExportJob', query));
    expect(error.code).toBe(code);
    expect(error.statusCode).toBe(400);
  });
});
