import { createCipheriv, createHash, randomBytes } from 'node:crypto';

export const ExportJobStatus = {
  Init: 'Init',
  Processing: 'Processing',
  Success: 'Success',
  Failed: 'Failed',
} as const;
export type ExportJobStatus = (typeof ExportJobStatus)[keyof typeof ExportJobStatus];

export const ExportType = {
  BaseTimeline: 'BaseTimeline',
  AdobePremierePro: 'AdobePremierePro',
} as const;
export type ExportType = (typeof ExportType)[keyof typeof ExportType];

/**
 * Encoding of `ExportResult.Timeline` and `UserData` in responses. The API reference and every generated SDK type them
 * as JSON text, but the reference's sample response shows nested objects, so both are offered.
 */
export const FieldShape = {
  JsonString: 'json-string',
  Object: 'object',
} as const;
export type FieldShape = (typeof FieldShape)[keyof typeof FieldShape];

/** One state of a job's script. */
export interface StatusStep {
  status: ExportJobStatus;
  /** Number of GetProjectExportJob responses this step lasts for. Default 1. The last step of a script lasts for ever. */
  responses?: number;
  /** `Code` and `Message` to send, normally only with `Failed`. */
  code?: string;
  message?: string;
}

/** The script of jobs that SubmitProjectExportJob creates: one response Init, one Processing, then Success. */
export const DEFAULT_SCRIPT: readonly StatusStep[] = [
  { status: ExportJobStatus.Init, responses: 1 },
  { status: ExportJobStatus.Processing, responses: 1 },
  { status: ExportJobStatus.Success },
];

/** Location and content of an AdobePremierePro export. */
export interface ProjectFileOptions {
  bucket: string;
  /** Key prefix, used as given (include the trailing `/`). Default: the bucket root. */
  prefix?: string;
  /** The zip bytes. When omitted, `size` bytes are generated from the JobId with `generateProjectBytes`. */
  bytes?: Buffer;
  /** Default 1024. */
  size?: number;
}

/** Presigning rule of each `ProjectUrl`. */
export interface ProjectUrlPolicy {
  /** Lifetime of each URL; zero or negative gives an already expired URL. Default 3600. */
  lifetimeSeconds: number;
  /** Number of following Success responses whose URL has already expired. After them `lifetimeSeconds` applies. */
  expiredResponses: number;
}

export interface CreateJobOptions {
  /** Default: 32 random hex digits, as IMS assigns. */
  jobId?: string;
  /** `null` is sent as JSON null, as IMS does for jobs submitted with an inline Timeline. Default: 32 random hex digits. */
  projectId?: string | null;
  /** Default `BaseTimeline`. Other values are sent as given. */
  exportType?: string;
  /** JSON text, or an object that is serialised once. */
  userData?: string | Record<string, unknown>;
  /** Default `DEFAULT_SCRIPT`. */
  script?: readonly StatusStep[];
  /** The Timeline a BaseTimeline job reports on Success. Default: a one-clip timeline. */
  timeline?: string | Record<string, unknown>;
  /** Required for AdobePremierePro jobs unless `rawBody` is set. */
  project?: ProjectFileOptions;
  projectUrl?: Partial<ProjectUrlPolicy>;
  /** Default `json-string`. */
  fieldShape?: FieldShape;
  /** Body sent verbatim, with status 200, as every GetProjectExportJob response for this job. The script is ignored. */
  rawBody?: string;
}

export interface ProjectObject {
  bucket: string;
  key: string;
  bytes: Buffer;
}

/** The emulator's state of one job. */
export interface ExportJobRecord {
  jobId: string;
  projectId: string | null;
  exportType: string;
  userData: string | undefined;
  /** Timeline JSON text. */
  timeline: string;
  script: StatusStep[];
  stepIndex: number;
  /** Responses already sent in the current step. */
  stepResponses: number;
  /** GetProjectExportJob responses sent so far. */
  responses: number;
  project: (ProjectObject & { stored: boolean }) | undefined;
  projectUrl: ProjectUrlPolicy;
  fieldShape: FieldShape;
  rawBody: string | undefined;
}

/** A copy of a job's state for tests to inspect. */
export interface ExportJobSnapshot {
  jobId: string;
  projectId: string | null;
  exportType: string;
  /** The status the next GetProjectExportJob response will carry. */
  status: ExportJobStatus;
  /** GetProjectExportJob responses sent so far. */
  responses: number;
  /** The AdobePremierePro export. `stored` turns true with the first Success response. */
  project: (ProjectObject & { stored: boolean }) | undefined;
}

export const DEFAULT_PROJECT_SIZE = 1024;
export const DEFAULT_URL_LIFETIME_SECONDS = 3600;

const DEFAULT_TIMELINE = {
  VideoTracks: [
    {
      VideoTrackClips: [
        { Type: 'Video', MediaURL: 'https://example-bucket.oss-cn-shanghai.aliyuncs.com/clip.mp4', In: 0, Out: 4, TimelineIn: 0, TimelineOut: 4 },
      ],
    },
  ],
};

/** Jobs of one emulator, with the scripted state each GetProjectExportJob response reads. */
export class JobStore {
  readonly #jobs = new Map<string, ExportJobRecord>();

  create(options: CreateJobOptions): ExportJobRecord {
    const jobId = options.jobId ?? randomHex();
    if (this.#jobs.has(jobId)) throw new Error(`Job ${jobId} already exists in the IMS emulator; choose another jobId.`);
    const exportType = options.exportType ?? ExportType.BaseTimeline;

    const record: ExportJobRecord = {
      jobId,
      projectId: options.projectId === undefined ? randomHex() : options.projectId,
      exportType,
      userData: typeof options.userData === 'object' ? JSON.stringify(options.userData) : options.userData,
      timeline: typeof options.timeline === 'object' ? JSON.stringify(options.timeline) : (options.timeline ?? JSON.stringify(DEFAULT_TIMELINE)),
      script: checkScript(options.script ?? DEFAULT_SCRIPT, jobId),
      stepIndex: 0,
      stepResponses: 0,
      responses: 0,
      project: createProjectObject(jobId, exportType, options),
      projectUrl: {
        lifetimeSeconds: options.projectUrl?.lifetimeSeconds ?? DEFAULT_URL_LIFETIME_SECONDS,
        expiredResponses: options.projectUrl?.expiredResponses ?? 0,
      },
      fieldShape: options.fieldShape ?? FieldShape.JsonString,
      rawBody: options.rawBody,
    };
    this.#jobs.set(jobId, record);
    return record;
  }

  get(jobId: string): ExportJobRecord | undefined {
    return this.#jobs.get(jobId);
  }

  /** Returns the job or throws, for the scripting API where an unknown JobId is a test bug. */
  require(jobId: string): ExportJobRecord {
    const record = this.#jobs.get(jobId);
    if (record === undefined) throw new Error(`Job ${jobId} does not exist in the IMS emulator; create it first.`);
    return record;
  }

  /** Replaces the job's script, so that the next response reads its first step. */
  setScript(jobId: string, script: readonly StatusStep[]): void {
    const record = this.require(jobId);
    record.script = checkScript(script, jobId);
    record.stepIndex = 0;
    record.stepResponses = 0;
  }
}

/** Returns the step the next response of this job reads. */
export function currentStep(record: ExportJobRecord): StatusStep {
  return record.script[record.stepIndex]!;
}

/** Counts one response against the current step, moving on when the step is used up. */
export function advanceScript(record: ExportJobRecord): void {
  record.responses += 1;
  const isLastStep = record.stepIndex === record.script.length - 1;
  if (isLastStep) return;

  record.stepResponses += 1;
  if (record.stepResponses >= (currentStep(record).responses ?? 1)) {
    record.stepIndex += 1;
    record.stepResponses = 0;
  }
}

/** Returns the lifetime of the next `ProjectUrl` and counts it against `expiredResponses`. */
export function takeUrlLifetime(record: ExportJobRecord): number {
  if (record.projectUrl.expiredResponses > 0) {
    record.projectUrl.expiredResponses -= 1;
    return -60;
  }
  return record.projectUrl.lifetimeSeconds;
}

export function snapshotOf(record: ExportJobRecord): ExportJobSnapshot {
  return {
    jobId: record.jobId,
    projectId: record.projectId,
    exportType: record.exportType,
    status: currentStep(record).status,
    responses: record.responses,
    project: record.project === undefined ? undefined : { ...record.project },
  };
}

/**
 * Returns `size` bytes derived from `seed` by chained SHA-256, so that a test can recompute the content
 * of a generated export. The bytes are not a valid zip archive; only their identity matters to a copy.
 */
export function generateProjectBytes(seed: string, size: number): Buffer {
  // AES-128-CTR over zeros, keyed by the seed: deterministic, never repeating, and about 1 GiB/s, so
  // benchmarks can generate multi-GiB exports (hashing per 32-byte block took seconds per 100 MiB).
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  return cipher.update(Buffer.alloc(size));
}

export function randomHex(): string {
  return randomBytes(16).toString('hex');
}

function createProjectObject(jobId: string, exportType: string, options: CreateJobOptions): ExportJobRecord['project'] {
  if (exportType !== ExportType.AdobePremierePro || options.rawBody !== undefined) return undefined;

  const project = options.project;
  if (project === undefined) {
    throw new Error(`Job ${jobId} is an AdobePremierePro export, so it needs a project option with the output bucket.`);
  }
  const bytes = project.bytes ?? generateProjectBytes(jobId, project.size ?? DEFAULT_PROJECT_SIZE);
  const key = `${project.prefix ?? ''}exported_project_${randomHex()}.zip`;
  return { bucket: project.bucket, key, bytes, stored: false };
}

function checkScript(script: readonly StatusStep[], jobId: string): StatusStep[] {
  if (script.length === 0) throw new Error(`The script of job ${jobId} is empty; give at least one status step.`);
  for (const step of script) {
    if (!Object.values(ExportJobStatus).includes(step.status)) {
      throw new Error(`The script of job ${jobId} has an unknown status ${String(step.status)}.`);
    }
    if (step.responses !== undefined && (!Number.isInteger(step.responses) || step.responses < 1)) {
      throw new Error(`The script of job ${jobId} has responses=${step.responses}; use a positive integer.`);
    }
  }
  return script.map((step) => ({ ...step }));
}
