import { OssError } from './errors';
import type { ProjectExportJob } from './ims-schema';
import { redact } from './log';
import type { OssBucket, WrittenObject } from './oss';
import type { SourceLocation } from './source';

export const MANIFEST_FILE = 'manifest.json';
export const MANIFEST_VERSION = 1;

/** Final state of a job, as its manifest records it. */
export const ManifestResult = {
  /** Every artefact was copied and verified. */
  Copied: 'copied',
  /** IMS reports the export job as Failed; `Code` and `Message` are IMS's. */
  Failed: 'failed',
  /** IMS reports Success but the result cannot be copied as it is; `error` gives the reason. */
  Invalid: 'invalid',
  /** The job was not finished within JOB_MAX_AGE_HOURS, so this product stopped waiting for it. */
  GivenUp: 'given-up',
} as const;
export type ManifestResult = (typeof ManifestResult)[keyof typeof ManifestResult];

/**
 * The completion marker written last under `<OUTPUT_PREFIX><JobId>/manifest.json`. Job fields keep IMS's
 * names; the source is recorded as host and path only, never with the URL's signature.
 */
export interface Manifest {
  manifestVersion: typeof MANIFEST_VERSION;
  result: ManifestResult;
  JobId: string;
  ProjectId: string | null;
  ExportType: string;
  Status: string;
  Code?: string;
  Message?: string;
  UserData: unknown;
  error?: { code: string; message: string };
  objects: WrittenObject[];
  source: ({ type: 'ProjectUrl'; copy: 'server-side' | 'download' } & SourceLocation) | { type: 'Timeline' } | null;
  /** ISO 8601 time at which the manifest was written. */
  writtenAt: string;
}

export interface ManifestInput {
  result: ManifestResult;
  job: ProjectExportJob;
  objects?: WrittenObject[];
  source?: Manifest['source'];
  error?: { code: string; message: string };
}

/** Key of a job's manifest. */
export function manifestKey(outputPrefix: string, jobId: string): string {
  return `${outputPrefix}${jobId}/${MANIFEST_FILE}`;
}

export function buildManifest(input: ManifestInput, now = new Date()): Manifest {
  const { job } = input;
  const failed = input.result === ManifestResult.Failed;
  return {
    manifestVersion: MANIFEST_VERSION,
    result: input.result,
    JobId: job.jobId,
    ProjectId: job.projectId ?? null,
    ExportType: job.exportType,
    Status: job.status,
    // IMS may send Code and Message on a successful job too; they mean something only on a failed one.
    ...(failed && job.code !== undefined ? { Code: job.code } : {}),
    ...(failed && job.message !== undefined ? { Message: job.message } : {}),
    // UserData may carry a NotifyAddress with the callback token in its query; secrets are masked as in logs.
    UserData: redact(job.userData ?? null),
    ...(input.error ? { error: input.error } : {}),
    objects: input.objects ?? [],
    source: input.source ?? null,
    writtenAt: now.toISOString(),
  };
}

/**
 * Writes the manifest for a job, tagged with the job's ID like every object this product writes. The write
 * never replaces a manifest: when two runs finish the same job, the first manifest stays and the second run
 * gets `written: false`.
 */
export async function writeManifest(bucket: OssBucket, key: string, manifest: Manifest): Promise<{ written: boolean }> {
  const body = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  try {
    await bucket.putBuffer(key, body, { contentType: 'application/json', meta: { 'ims-job-id': manifest.JobId }, forbidOverwrite: true });
    return { written: true };
  } catch (error) {
    if (error instanceof OssError && error.code === 'FileAlreadyExists') return { written: false };
    throw error;
  }
}

/** Reads a job's manifest; returns undefined when there is none or it is not a manifest of this product. */
export async function readManifest(bucket: OssBucket, key: string): Promise<Manifest | undefined> {
  const text = await bucket.getText(key);
  if (text === undefined) return undefined;
  try {
    const parsed = JSON.parse(text) as Partial<Manifest>;
    return parsed.manifestVersion === MANIFEST_VERSION && typeof parsed.result === 'string' ? (parsed as Manifest) : undefined;
  } catch {
    return undefined;
  }
}
