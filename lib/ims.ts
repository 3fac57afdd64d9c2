import * as openApiModule from '@alicloud/openapi-client';
import * as teaUtilModule from '@alicloud/tea-util';
import type { z } from 'zod';
import type { Config } from './config';
import type { Credentials } from './credentials';
import { ImsApiError, messageOf } from './errors';
import {
  getProjectExportJobResponseSchema,
  submitProjectExportJobResponseSchema,
  toProjectExportJob,
  type ProjectExportJob,
} from './ims-schema';
import type { Logger } from './log';
import { withRetry } from './retry';

const API_VERSION = '2020-11-09';

// Under Node's ESM loader these CommonJS packages arrive as `{ default: module.exports }`, and in an esbuild
// bundle as `module.exports` itself; both forms are unwrapped here.
const openApi = unwrapDefault(openApiModule) as typeof openApiModule;
const OpenApiClient = openApi.default;
const teaUtil = unwrapDefault(teaUtilModule) as typeof teaUtilModule;

export interface ImsClientOptions {
  endpoint: { host: string; protocol: 'https' | 'http' };
  credentials: Credentials;
  logger: Logger;
  /** Per-request read timeout in milliseconds. The SDK's own default of 3 s is too short for a busy API. */
  readTimeoutMs?: number;
  /** Per-request connect timeout in milliseconds. */
  connectTimeoutMs?: number;
  /** Attempts per call, the first included. */
  attempts?: number;
  /** Cap of the first retry delay, in milliseconds; doubles per retry up to `maxDelayMs`. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Signs requests with the legacy v1 HMAC-SHA1 query signature instead of ACS3-HMAC-SHA256. */
  legacySignature?: boolean;
}

export interface SubmitProjectExportJobInput {
  projectId?: string;
  timeline?: string;
  exportType: string;
  /** OutputMediaConfig: the bucket (and optional prefix) IMS writes the export to. */
  outputBucket: string;
  outputPrefix?: string;
  userData?: string;
}

/**
 * IMS (ICE 2020-11-09) calls this product makes, over `@alicloud/openapi-client` with RPC style.
 * Throttling, 5xx responses, network errors, timeouts and non-JSON bodies are retried with capped
 * exponential backoff and jitter; other 4xx responses are not.
 */
export class ImsClient {
  readonly #client: InstanceType<typeof OpenApiClient>;
  readonly #options: ImsClientOptions;

  constructor(options: ImsClientOptions) {
    this.#options = options;
    const readTimeout = options.readTimeoutMs ?? 10_000;
    const connectTimeout = options.connectTimeoutMs ?? 5_000;
    this.#client = new OpenApiClient(
      new openApi.Config({
        accessKeyId: options.credentials.accessKeyId,
        accessKeySecret: options.credentials.accessKeySecret,
        securityToken: options.credentials.securityToken,
        endpoint: options.endpoint.host,
        protocol: options.endpoint.protocol,
        readTimeout,
        connectTimeout,
        ...(options.legacySignature ? { signatureAlgorithm: 'v2' } : {}),
      }),
    );
  }

  /** Reads a project export job. */
  async getProjectExportJob(jobId: string): Promise<ProjectExportJob> {
    const body = await this.#call('GetProjectExportJob', { JobId: jobId }, getProjectExportJobResponseSchema);
    return toProjectExportJob(body);
  }

  /** Submits a project export job and returns its JobId. */
  async submitProjectExportJob(input: SubmitProjectExportJobInput): Promise<string> {
    const query: Record<string, string> = {
      ExportType: input.exportType,
      OutputMediaConfig: JSON.stringify({ Bucket: input.outputBucket, ...(input.outputPrefix ? { Prefix: input.outputPrefix } : {}) }),
    };
    if (input.projectId !== undefined) query.ProjectId = input.projectId;
    if (input.timeline !== undefined) query.Timeline = input.timeline;
    if (input.userData !== undefined) query.UserData = input.userData;

    // Submitting twice would start two exports, so a failed submit is never retried.
    const body = await this.#call('SubmitProjectExportJob', query, submitProjectExportJobResponseSchema, 1);
    return body.JobId;
  }

  async #call<S extends z.ZodType>(action: string, query: Record<string, string>, schema: S, attempts?: number): Promise<z.output<S>> {
    const params = new openApi.Params({
      action,
      version: API_VERSION,
      protocol: this.#options.endpoint.protocol.toUpperCase(),
      pathname: '/',
      method: 'POST',
      authType: 'AK',
      style: 'RPC',
      reqBodyType: 'formData',
      // Read as text and parsed here, because the SDK's own JSON parse of a 2xx body drops the HTTP status.
      bodyType: 'string',
    });
    const request = new openApi.OpenApiRequest({ query });
    const runtime = new teaUtil.RuntimeOptions({});

    const body = await withRetry(
      async () => {
        let response: SdkResponse;
        try {
          response = await this.#client.callApi(params, request, runtime);
        } catch (error) {
          throw toImsApiError(action, error);
        }
        return parseJsonBody(action, response);
      },
      {
        attempts: attempts ?? this.#options.attempts ?? 5,
        baseDelayMs: this.#options.baseDelayMs ?? 200,
        maxDelayMs: this.#options.maxDelayMs ?? 5_000,
        isRetryable: (error) => error instanceof ImsApiError && error.retryable,
        onRetry: (error, attempt, delayMs) =>
          this.#options.logger.warn('IMS call failed, retrying', { action, attempt, delay_ms: delayMs, error }),
      },
    );

    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`).join('; ');
      throw new ImsApiError(`${action} returned a response this product cannot read (${issues})`, { action, code: 'InvalidResponse' });
    }
    return parsed.data;
  }
}

/** Fields of the errors that `@alicloud/openapi-client` 0.4 throws (a tea ResponseError, or a network error). */
interface SdkError {
  name?: string;
  code?: string;
  statusCode?: number;
  data?: { RequestId?: string; Message?: string };
}

/** The part of a `callApi` result with `bodyType: 'string'` that this client reads. */
interface SdkResponse {
  statusCode?: number;
  headers?: Record<string, string | undefined>;
  body?: unknown;
}

/** Parses the text of a 2xx or 3xx response. A body that is not JSON (truncated or corrupted) is retryable. */
function parseJsonBody(action: string, response: SdkResponse): unknown {
  const statusCode = typeof response.statusCode === 'number' ? response.statusCode : undefined;
  try {
    return JSON.parse(String(response.body));
  } catch (error) {
    const requestId = response.headers?.['x-acs-request-id'];
    const status = statusCode === undefined ? 'a response' : `HTTP ${statusCode}`;
    const message = `IMS ${action} returned ${status} with a body that is not JSON: ${messageOf(error)}`;
    throw new ImsApiError(message, { action, statusCode, requestId }, { cause: error, retryable: true });
  }
}

function toImsApiError(action: string, error: unknown): ImsApiError {
  const sdkError = (error ?? {}) as SdkError;
  const statusCode = typeof sdkError.statusCode === 'number' ? sdkError.statusCode : undefined;
  const code = typeof sdkError.code === 'string' && sdkError.code !== 'undefined' ? sdkError.code : undefined;
  const requestId = sdkError.data?.RequestId;

  const retryable = isRetryableImsFailure(error, statusCode, code);
  const message = `IMS ${action} ${describeFailure(error, statusCode)}${code ? ` (${code})` : ''}: ${messageOf(error)}`;
  return new ImsApiError(message, { action, code, statusCode, requestId }, { cause: error, retryable });
}

function describeFailure(error: unknown, statusCode: number | undefined): string {
  // @alicloud/openapi-client 0.4.15 parses the body of a 4xx or 5xx response as JSON itself (as XML only for a
  // text/xml content type), and its SyntaxError carries no status. With `bodyType: 'string'` it parses nothing else.
  if (error instanceof SyntaxError) {
    return 'returned an HTTP error status (the SDK does not report which) with a body that is not JSON, such as a gateway\'s HTML page';
  }
  return statusCode === undefined ? 'failed before IMS answered' : `returned HTTP ${statusCode}`;
}

function isRetryableImsFailure(error: unknown, statusCode: number | undefined, code: string | undefined): boolean {
  // A 4xx or 5xx body that is not JSON (an HTML page from a gateway) surfaces as a SyntaxError with no status.
  if (error instanceof SyntaxError) return true;
  if (code?.startsWith('Throttling')) return true;
  if (code === 'ServiceUnavailable' || code === 'InternalError') return true;
  // Connection refused or reset, DNS failures and read or connect timeouts carry no HTTP status.
  if (statusCode === undefined) return true;
  return statusCode >= 500 || statusCode === 429;
}

function unwrapDefault(module: object): unknown {
  const inner = (module as { default?: unknown }).default;
  return inner !== null && typeof inner === 'object' && 'default' in inner ? inner : module;
}

/** Creates the IMS client for the settings' endpoint and timeout. */
export function createImsClient(config: Pick<Config, 'imsEndpoint' | 'imsTimeoutSeconds'>, credentials: Credentials, logger: Logger): ImsClient {
  const timeoutMs = config.imsTimeoutSeconds * 1000;
  return new ImsClient({ endpoint: config.imsEndpoint, credentials, logger, readTimeoutMs: timeoutMs, connectTimeoutMs: timeoutMs });
}
