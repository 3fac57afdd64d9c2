import { z } from 'zod';

/** Job states that GetProjectExportJob reports. */
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

/** A project export job as this product uses it, normalised from the API's response. */
export interface ProjectExportJob {
  jobId: string;
  projectId: string | undefined;
  /** `BaseTimeline` or `AdobePremierePro`; any other value is kept so that the error can name it. */
  exportType: string;
  status: ExportJobStatus;
  /** Error code of a failed job. IMS may also send one on a successful job, where it means nothing. */
  code: string | undefined;
  message: string | undefined;
  /** The Timeline as IMS sent it: JSON text, or an already parsed object. */
  timeline: string | Record<string, unknown> | undefined;
  projectUrl: string | undefined;
  /** UserData parsed from its JSON text when it is valid JSON, else the text as sent. */
  userData: unknown;
}

const trimmed = z.string().transform((value) => value.trim());
const optionalText = z
  .string()
  .nullish()
  .transform((value) => (value === null || value === undefined || value.trim() === '' ? undefined : value.trim()));

// The API reference types Timeline and UserData as strings, and the SDKs decode them as strings, but the
// reference's own sample response shows them as nested objects. Both shapes are accepted.
const jsonTextOrObject = z.union([z.string(), z.record(z.string(), z.unknown())]).nullish();

const projectExportJobSchema = z.object({
  JobId: trimmed.pipe(z.string().min(1)),
  ProjectId: optionalText,
  ExportType: trimmed,
  Status: z.enum(['Init', 'Processing', 'Success', 'Failed']),
  Code: optionalText,
  Message: optionalText,
  ExportResult: z
    .object({
      Timeline: jsonTextOrObject,
      ProjectUrl: optionalText,
    })
    .nullish(),
  UserData: jsonTextOrObject,
});

/** The body of a GetProjectExportJob response. */
export const getProjectExportJobResponseSchema = z.object({
  RequestId: z.string().optional(),
  ProjectExportJob: projectExportJobSchema,
});

export const submitProjectExportJobResponseSchema = z.object({
  RequestId: z.string().optional(),
  JobId: trimmed.pipe(z.string().min(1)),
});

/** Converts a validated API response into the product's `ProjectExportJob`. */
export function toProjectExportJob(body: z.output<typeof getProjectExportJobResponseSchema>): ProjectExportJob {
  const job = body.ProjectExportJob;
  const timeline = job.ExportResult?.Timeline ?? undefined;

  return {
    jobId: job.JobId,
    projectId: job.ProjectId,
    exportType: job.ExportType,
    status: job.Status,
    code: job.Code,
    message: job.Message,
    timeline: typeof timeline === 'string' && timeline.trim() === '' ? undefined : timeline,
    projectUrl: job.ExportResult?.ProjectUrl,
    userData: parseUserData(job.UserData ?? undefined),
  };
}

function parseUserData(userData: string | Record<string, unknown> | undefined): unknown {
  if (typeof userData !== 'string') return userData;
  try {
    return JSON.parse(userData);
  } catch {
    return userData;
  }
}
