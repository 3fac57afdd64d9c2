/**
 * Asynchronous hand-off of one export job to the worker function, through `@alicloud/fc2`.
 *
 * FC responds to an async invocation with 202 once it has queued the event, and runs the worker later with
 * its own retries. A dispatch that fails after FC queued the event (a dropped connection, a timeout) can
 * still run the worker, so the worker must be idempotent for a job.
 */
import FCClient from '@alicloud/fc2';
import type { Credentials } from './credentials';
import { SyncError } from './errors';

export interface WorkerDispatcherOptions {
  /** Name of the FC 3.0 worker function. */
  functionName: string;
  /** Alibaba Cloud account ID that owns the function (`context.accountId` inside FC). */
  accountId: string;
  /** Region ID such as `cn-shanghai`. */
  region: string;
  /** FC API address: a host, or a URL with scheme and port such as `http://127.0.0.1:9100`. Default: internal endpoint. */
  endpoint?: string;
  credentials: Credentials;
  /** Timeout of the invoke request in milliseconds. Default 5000. */
  timeoutMs?: number;
}

export interface WorkerDispatcher {
  /** Invokes the worker asynchronously with `{"jobId": jobId}` and resolves once FC has accepted the event. */
  dispatch(jobId: string): Promise<{ requestId: string }>;
}

/** Handing a job to the worker failed. `status` and `code` are set when FC sent a response. */
export class DispatchError extends SyncError {
  readonly functionName: string;
  readonly jobId: string;
  /** HTTP status of FC's response. Undefined when none arrived (timeout, refused or dropped connection). */
  readonly status: number | undefined;
  /** FC's `ErrorCode`, or a Node.js socket error code such as `ECONNREFUSED`. */
  readonly code: string | undefined;
  readonly requestId: string | undefined;

  constructor(
    message: string,
    details: { functionName: string; jobId: string; status?: number; code?: string; requestId?: string },
    options: { cause?: unknown; retryable: boolean },
  ) {
    super(message, options);
    this.name = 'DispatchError';
    this.functionName = details.functionName;
    this.jobId = details.jobId;
    this.status = details.status;
    this.code = details.code;
    this.requestId = details.requestId;
  }
}

const FC3_API_VERSION = '2023-03-30';
const DEFAULT_TIMEOUT_MS = 5_000;

/** Creates a dispatcher that invokes `functionName` asynchronously for each job. */
export function createWorkerDispatcher(options: WorkerDispatcherOptions): WorkerDispatcher {
  validateOptions(options);
  const client = new FCClient(options.accountId, {
    accessKeyID: options.credentials.accessKeyId,
    accessKeySecret: options.credentials.accessKeySecret,
    securityToken: options.credentials.securityToken,
    region: options.region,
    endpoint: resolveFcEndpoint(options.accountId, options.region, options.endpoint),
    timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
  });
  // NOTE: fc2 2.6.6 signs requests for the FC 2.0 API (2016-08-15). Reaching an FC 3.0 function with the
  // version set to 2023-03-30 follows how the Serverless Devs fc3 component uses fc2, and has not been
  // confirmed against a live deployment.
  client.version = FC3_API_VERSION;

  const path = `/functions/${encodeURIComponent(options.functionName)}/invocations`;
  return {
    async dispatch(jobId) {
      if (typeof jobId !== 'string' || jobId === '') {
        const details = { functionName: options.functionName, jobId: String(jobId) };
        const message = `Cannot dispatch job ${JSON.stringify(jobId)} to function ${options.functionName}: the job ID is empty`;
        throw new DispatchError(message, details, { retryable: false });
      }

      try {
        const response = await client.post(path, JSON.stringify({ jobId }), { 'x-fc-invocation-type': 'Async' });
        return { requestId: firstHeader(response.headers['x-fc-request-id']) ?? '' };
      } catch (error) {
        throw toDispatchError(error, options.functionName, jobId);
      }
    },
  };
}

/**
 * Returns the base URL fc2 sends requests to.
 *
 * The default is the region's internal endpoint, `https://<accountId>.<region>-internal.fc.aliyuncs.com`:
 * the callback and poller run in FC in the same region as the worker, so the hand-off stays on Alibaba
 * Cloud's internal network and does not depend on the function's internet access. This assumes FC
 * instances can resolve the internal endpoint without a VPC. Where they cannot, set FC_ENDPOINT to the
 * public `<accountId>.<region>.fc.aliyuncs.com`. Until then every dispatch fails with DispatchError, and
 * the timer finishes the jobs that the caller recorded in the ledger before dispatching.
 */
export function resolveFcEndpoint(accountId: string, region: string, override?: string): string {
  if (override === undefined || override === '') return `https://${accountId}.${region}-internal.fc.aliyuncs.com`;

  let url: URL;
  try {
    url = new URL(override.includes('://') ? override : `https://${override}`);
  } catch (error) {
    throw new Error(`FC endpoint '${override}' is neither a host nor a URL: give a host or a URL such as https://host:port`, {
      cause: error,
    });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new Error(`FC endpoint '${override}' uses ${url.protocol} but only http and https are supported`);
  }
  if (url.pathname !== '/' || url.search !== '') {
    throw new Error(`FC endpoint '${override}' has a path or query: give only scheme, host and port`);
  }
  return `${url.protocol}//${url.host}`;
}

function validateOptions(options: WorkerDispatcherOptions): void {
  const missing: string[] = [];
  if (!options.functionName) missing.push('functionName');
  if (!options.accountId) missing.push('accountId');
  if (!options.region) missing.push('region');
  if (!options.credentials?.accessKeyId) missing.push('credentials.accessKeyId');
  if (!options.credentials?.accessKeySecret) missing.push('credentials.accessKeySecret');
  if (missing.length > 0) throw new Error(`Cannot create the worker dispatcher: missing ${missing.join(', ')}`);

  if (options.credentials.accessKeyId.startsWith('STS') && !options.credentials.securityToken) {
    throw new Error(
      'Cannot create the worker dispatcher: temporary credentials (AccessKey ID starting with STS) need a securityToken',
    );
  }
}

/** Wraps an fc2 or socket error; fc2 puts the HTTP status and request ID only into its message. */
function toDispatchError(error: unknown, functionName: string, jobId: string): DispatchError {
  const message = error instanceof Error ? error.message : String(error);
  const status = Number(/ failed with (\d{3})\./.exec(message)?.[1]) || undefined;
  const requestId = /requestid: ([^,\s]+),/.exec(message)?.[1];
  const rawCode = (error as { code?: unknown } | null)?.code;
  const code = typeof rawCode === 'string' && rawCode !== '' ? rawCode : undefined;

  const details: { functionName: string; jobId: string; status?: number; code?: string; requestId?: string } = {
    functionName,
    jobId,
  };
  if (status !== undefined) details.status = status;
  if (code !== undefined) details.code = code;
  if (requestId !== undefined && requestId !== 'undefined') details.requestId = requestId;

  const outcome = status === undefined ? 'without a response from FC' : `with HTTP ${status}${code ? ` ${code}` : ''}`;
  return new DispatchError(`Dispatching job ${jobId} to function ${functionName} failed ${outcome}: ${message}`, details, {
    cause: error,
    retryable: status === undefined || status === 429 || status >= 500,
  });
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
