import {
  advanceScript,
  currentStep,
  ExportJobStatus,
  ExportType,
  FieldShape,
  randomHex,
  takeUrlLifetime,
  type ExportJobRecord,
  type JobStore,
  type StatusStep,
} from './jobs';
import type { ImsObjectStore, UrlSigningCredentials } from './object-store';
import { PopError, PopErrorCode } from './pop-errors';

/** State and settings an operation handler reads. */
export interface OperationContext {
  jobs: JobStore;
  requestId: string;
  objectStore: ImsObjectStore | undefined;
  urlSigningCredentials: UrlSigningCredentials;
  /** Buckets already created for exports when `createOutputBuckets` is on; undefined when it is off. */
  createdBuckets: Set<string> | undefined;
  jobNotFound: { status: number; code: string };
}

export interface OperationResult {
  /** JSON text of the 200 response. */
  body: string;
  jobId: string;
}

export type OperationHandler = (parameters: Map<string, string>, context: OperationContext) => Promise<OperationResult>;

/** Builds the GetProjectExportJob response from the job's script and counts it against the script. */
export async function getProjectExportJob(parameters: Map<string, string>, context: OperationContext): Promise<OperationResult> {
  const jobId = requireParameter(parameters, 'JobId');
  const record = context.jobs.get(jobId);
  if (record === undefined) {
    // NOTE: the code and status IMS returns for an unknown JobId are undocumented; this default is a guess
    // (the emulator's `jobNotFound` option changes it).
    throw new PopError(context.jobNotFound.status, context.jobNotFound.code, `The specified job ${jobId} is not found.`);
  }
  if (record.rawBody !== undefined) return { body: record.rawBody, jobId };

  const step = currentStep(record);
  const projectUrl = step.status === ExportJobStatus.Success ? await projectUrlFor(record, context) : undefined;
  advanceScript(record);

  const body = { RequestId: context.requestId, ProjectExportJob: projectExportJobBody(record, step, projectUrl) };
  return { body: JSON.stringify(body), jobId };
}

/** Validates the request as IMS does and creates a job that runs the default script. */
export async function submitProjectExportJob(parameters: Map<string, string>, context: OperationContext): Promise<OperationResult> {
  const projectId = optionalParameter(parameters, 'ProjectId');
  const timeline = optionalParameter(parameters, 'Timeline');
  if (projectId === undefined && timeline === undefined) {
    throw new PopError(400, PopErrorCode.MissingParameter, 'Either ProjectId or Timeline is required.');
  }
  if (projectId !== undefined && timeline !== undefined) {
    throw new PopError(400, PopErrorCode.InvalidParameter, 'Give either ProjectId or Timeline, not both.');
  }
  if (timeline !== undefined) parseJsonObject(timeline, 'Timeline');

  const exportType = requireParameter(parameters, 'ExportType');
  if (!Object.values<string>(ExportType).includes(exportType)) {
    throw new PopError(400, PopErrorCode.InvalidParameter, `ExportType ${exportType} is not valid; use BaseTimeline or AdobePremierePro.`);
  }
  const output = parseOutputMediaConfig(requireParameter(parameters, 'OutputMediaConfig'));
  const userData = optionalParameter(parameters, 'UserData');
  if (userData !== undefined) parseJsonObject(userData, 'UserData');

  if (exportType === ExportType.AdobePremierePro && context.objectStore === undefined) {
    throw new PopError(500, PopErrorCode.InternalError, 'The IMS emulator was started without an objectStore, so it cannot export AdobePremierePro projects.');
  }

  const record = context.jobs.create({
    jobId: randomHex(),
    projectId: projectId ?? null,
    exportType,
    userData,
    timeline,
    project: exportType === ExportType.AdobePremierePro ? { bucket: output.bucket, prefix: output.prefix } : undefined,
  });
  return { body: JSON.stringify({ RequestId: context.requestId, JobId: record.jobId }), jobId: record.jobId };
}

function projectExportJobBody(record: ExportJobRecord, step: StatusStep, projectUrl: string | undefined): Record<string, unknown> {
  const body: Record<string, unknown> = {
    JobId: record.jobId,
    ProjectId: record.projectId,
    ExportType: record.exportType,
    Status: step.status,
  };
  if (step.code !== undefined) body['Code'] = step.code;
  if (step.message !== undefined) body['Message'] = step.message;
  if (step.status === ExportJobStatus.Success) body['ExportResult'] = exportResultBody(record, projectUrl);
  if (record.userData !== undefined) body['UserData'] = shapeField(record.userData, record.fieldShape);
  return body;
}

function exportResultBody(record: ExportJobRecord, projectUrl: string | undefined): Record<string, unknown> {
  if (record.exportType === ExportType.BaseTimeline) return { Timeline: shapeField(record.timeline, record.fieldShape) };
  if (projectUrl !== undefined) return { ProjectUrl: projectUrl };
  return {};
}

function shapeField(jsonText: string, shape: ExportJobRecord['fieldShape']): unknown {
  if (shape === FieldShape.JsonString) return jsonText;
  try {
    const value: unknown = JSON.parse(jsonText);
    return typeof value === 'object' && value !== null ? value : jsonText;
  } catch {
    return jsonText;
  }
}

/** Stores the export on the job's first Success response, then presigns a fresh URL for every response. */
async function projectUrlFor(record: ExportJobRecord, context: OperationContext): Promise<string | undefined> {
  const project = record.project;
  if (project === undefined) return undefined;

  const store = context.objectStore;
  if (store === undefined) {
    throw new PopError(500, PopErrorCode.InternalError, `Job ${record.jobId} needs an objectStore to store its export, but the IMS emulator has none.`);
  }
  if (!project.stored) {
    if (context.createdBuckets !== undefined && !context.createdBuckets.has(project.bucket)) {
      await store.createBucket(project.bucket);
      context.createdBuckets.add(project.bucket);
    }
    await store.putObjectDirect(project.bucket, project.key, project.bytes, { contentType: 'application/zip' });
    project.stored = true;
  }
  const expiresInSeconds = takeUrlLifetime(record);
  return store.presignUrl(project.bucket, project.key, { expiresInSeconds, credentials: context.urlSigningCredentials });
}

function parseOutputMediaConfig(text: string): { bucket: string; prefix: string | undefined } {
  const config = parseJsonObject(text, 'OutputMediaConfig');
  const bucket = config['Bucket'];
  if (typeof bucket !== 'string' || bucket === '') {
    throw new PopError(400, PopErrorCode.InvalidParameter, `OutputMediaConfig.Bucket is missing or empty in ${text}.`);
  }
  const prefix = config['Prefix'];
  if (prefix !== undefined && typeof prefix !== 'string') {
    throw new PopError(400, PopErrorCode.InvalidParameter, `OutputMediaConfig.Prefix must be a string, not ${JSON.stringify(prefix)}.`);
  }
  for (const name of ['Width', 'Height']) {
    const value = config[name];
    if (value !== undefined && !(Number.isInteger(value) && (value as number) > 0)) {
      throw new PopError(400, PopErrorCode.InvalidParameter, `OutputMediaConfig.${name} must be a positive integer, not ${JSON.stringify(value)}.`);
    }
  }
  return { bucket, prefix };
}

function parseJsonObject(text: string, name: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new PopError(400, PopErrorCode.InvalidParameter, `${name} is not valid JSON: ${text}`, { cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new PopError(400, PopErrorCode.InvalidParameter, `${name} must be a JSON object: ${text}`);
  }
  return value as Record<string, unknown>;
}

function requireParameter(parameters: Map<string, string>, name: string): string {
  const value = optionalParameter(parameters, name);
  if (value === undefined) {
    throw new PopError(400, PopErrorCode.MissingParameter, `The input parameter "${name}" that is mandatory for processing this request is not supplied.`);
  }
  return value;
}

function optionalParameter(parameters: Map<string, string>, name: string): string | undefined {
  const value = parameters.get(name);
  return value === undefined || value.trim() === '' ? undefined : value;
}
