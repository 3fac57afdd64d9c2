/**
 * Error classes of ims-export-sync. Each sets `name`, keeps `cause`, and records whether retrying the same
 * operation later can succeed, so that callers can decide between retrying and recording a final error.
 */

export interface SyncErrorOptions extends ErrorOptions {
  /** True when the same operation may succeed later (timeouts, 5xx, throttling, dropped connections). */
  retryable?: boolean;
}

/** Base class of every error this product raises on purpose. */
export class SyncError extends Error {
  readonly retryable: boolean;

  constructor(message: string, options: SyncErrorOptions = {}) {
    super(message, options);
    this.name = 'SyncError';
    this.retryable = options.retryable ?? false;
  }
}

/** One or more settings are missing or invalid. The message lists each variable, its value and the fix. */
export class ConfigError extends SyncError {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`Invalid settings:\n- ${problems.join('\n- ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** A call to the IMS API failed. `code` and `statusCode` are IMS's when it sent a response. */
export class ImsApiError extends SyncError {
  readonly action: string;
  readonly code: string | undefined;
  readonly statusCode: number | undefined;
  readonly requestId: string | undefined;

  constructor(
    message: string,
    details: { action: string; code?: string; statusCode?: number; requestId?: string },
    options: SyncErrorOptions = {},
  ) {
    super(message, options);
    this.name = 'ImsApiError';
    this.action = details.action;
    this.code = details.code;
    this.statusCode = details.statusCode;
    this.requestId = details.requestId;
  }
}

/** Reasons a download of the export's `ProjectUrl` fails. */
export const SourceErrorReason = {
  /** The URL, or a redirect, points at a scheme, host or port that the settings do not allow. */
  NotAllowed: 'source-not-allowed',
  /** The signed URL expired; asking IMS for the job again returns a freshly signed one. */
  Expired: 'source-expired',
  /** The source responded with an unexpected HTTP status. */
  HttpStatus: 'source-http-status',
  /** The body ended before Content-Length bytes, the connection dropped, or the request timed out. */
  Interrupted: 'source-interrupted',
  /** The bytes received do not match the size or CRC-64 the source announced. */
  IntegrityMismatch: 'source-integrity-mismatch',
} as const;
export type SourceErrorReason = (typeof SourceErrorReason)[keyof typeof SourceErrorReason];

/** Downloading the export's zip failed. The message names the host and path, never the URL's signature. */
export class SourceError extends SyncError {
  readonly reason: SourceErrorReason;

  constructor(message: string, reason: SourceErrorReason, options: SyncErrorOptions = {}) {
    super(message, options);
    this.name = 'SourceError';
    this.reason = reason;
  }
}

/** A write to, or read from, the destination bucket failed. */
export class OssError extends SyncError {
  readonly key: string;
  readonly code: string | undefined;
  readonly status: number | undefined;

  constructor(message: string, details: { key: string; code?: string; status?: number }, options: SyncErrorOptions = {}) {
    super(message, options);
    this.name = 'OssError';
    this.key = details.key;
    this.code = details.code;
    this.status = details.status;
  }
}

/** IMS reported Success but its result cannot be copied as it is (for example a Timeline that is not JSON). */
export class InvalidExportError extends SyncError {
  readonly code: string;

  constructor(message: string, code: string, options: SyncErrorOptions = {}) {
    super(message, options);
    this.name = 'InvalidExportError';
    this.code = code;
  }
}

/** Returns true when `error` reports that retrying the same operation later may succeed. */
export function isRetryable(error: unknown): boolean {
  return error instanceof SyncError && error.retryable;
}

/** Returns `error.message` for an Error and a string form of anything else. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
