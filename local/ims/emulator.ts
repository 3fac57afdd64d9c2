import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { CredentialStore } from '../common/credentials';
import { FaultInjector, type Fault } from '../common/faults';
import { closeServer, listenOnLoopback, readBody, RequestLog, sleep } from '../common/http';
import { authenticate, MAX_CLOCK_SKEW_MS, type AuthenticatedCaller, type SignedRequest } from './authenticate';
import { sendIceCallback, type CallbackDelivery, type SendCallbackOptions } from './callback';
import {
  JobStore,
  snapshotOf,
  type CreateJobOptions,
  type ExportJobSnapshot,
  type ExportJobStatus,
  type FieldShape,
  type ProjectUrlPolicy,
  type StatusStep,
} from './jobs';
import type { ImsObjectStore, UrlSigningCredentials } from './object-store';
import {
  getProjectExportJob,
  submitProjectExportJob,
  type OperationContext,
  type OperationHandler,
} from './operations';
import { newRequestId, PopError, PopErrorCode } from './pop-errors';
import { injectedResponse, jsonResponse, popErrorResponse, sendResponse, type PreparedResponse } from './respond';
import type { Parameter } from './signing';

export const ICE_API_VERSION = '2020-11-09';

export interface ImsEmulatorOptions {
  /** The account whose AccessKeys and STS tokens requests must be signed with. */
  credentials: CredentialStore;
  /** Object store for AdobePremierePro exports, which are stored and presigned there. Required only for such jobs. */
  objectStore?: ImsObjectStore;
  /** Default: a free port. */
  port?: number;
  /** Credentials `ProjectUrl` is presigned with. Default: a new AccessKey from `credentials`. */
  urlSigningCredentials?: UrlSigningCredentials;
  /** Creates each export's bucket through `objectStore.createBucket` before the first write to it. Default false. */
  createOutputBuckets?: boolean;
  /** Status and code for an unknown JobId. Default 404 `InvalidParameter.JobNotFound`. */
  jobNotFound?: { status: number; code: string };
}

const OPERATIONS: Record<string, OperationHandler> = {
  GetProjectExportJob: getProjectExportJob,
  SubmitProjectExportJob: submitProjectExportJob,
};

/**
 * A local IMS (API product ICE, version 2020-11-09) that serves `GetProjectExportJob` and
 * `SubmitProjectExportJob` over HTTP on 127.0.0.1. It verifies ACS3-HMAC-SHA256 and legacy HMAC-SHA1
 * signatures against a `CredentialStore`, rejects requests with POP error bodies, runs scripted job states,
 * injects faults and sends IMS-style callbacks.
 *
 * @example
 * const ims = await startImsEmulator({ credentials });
 * ims.createJob({ jobId: 'job-1', script: [{ status: 'Processing', responses: 2 }, { status: 'Success' }] });
 * // point @alicloud/openapi-client at `127.0.0.1:${ims.port}` with protocol 'http'
 */
export class ImsEmulator {
  readonly faults = new FaultInjector();
  readonly requests = new RequestLog();
  readonly #jobs = new JobStore();
  readonly #server: Server;
  readonly #options: ImsEmulatorOptions;
  readonly #urlSigningCredentials: UrlSigningCredentials;
  readonly #createdBuckets: Set<string> | undefined;
  /** Expiry time (server clock) of each AccessKey ID and nonce pair already used. */
  readonly #usedNonces = new Map<string, number>();
  #clockOffsetMs = 0;
  #address: { port: number; url: string } | undefined;

  constructor(options: ImsEmulatorOptions) {
    this.#options = options;
    this.#urlSigningCredentials = options.urlSigningCredentials ?? options.credentials.createAccessKey();
    this.#createdBuckets = options.createOutputBuckets === true ? new Set() : undefined;
    this.#server = createServer((request, response) => {
      this.#handle(request, response).catch((error: unknown) => this.#failUnexpectedly(response, error));
    });
  }

  /** Base URL, such as `http://127.0.0.1:41234`. */
  get url(): string {
    return this.#listening().url;
  }

  get port(): number {
    return this.#listening().port;
  }

  async listen(port = 0): Promise<void> {
    this.#address = await listenOnLoopback(this.#server, port);
  }

  async close(): Promise<void> {
    await closeServer(this.#server);
  }

  /** Creates a job whose state follows `options.script`; returns its state. */
  createJob(options: CreateJobOptions = {}): ExportJobSnapshot {
    return snapshotOf(this.#jobs.create(options));
  }

  getJob(jobId: string): ExportJobSnapshot | undefined {
    const record = this.#jobs.get(jobId);
    return record === undefined ? undefined : snapshotOf(record);
  }

  /** Replaces the job's script, so that the next GetProjectExportJob response reads its first step. */
  setJobScript(jobId: string, script: readonly StatusStep[]): void {
    this.#jobs.setScript(jobId, script);
  }

  /** Puts the job in `status` for every following response, with `Code` and `Message` when given. */
  setJobStatus(jobId: string, status: ExportJobStatus, failure: { code?: string; message?: string } = {}): void {
    this.#jobs.setScript(jobId, [{ status, ...failure }]);
  }

  setProjectUrlPolicy(jobId: string, policy: Partial<ProjectUrlPolicy>): void {
    const record = this.#jobs.require(jobId);
    record.projectUrl = { ...record.projectUrl, ...policy };
  }

  setFieldShape(jobId: string, shape: FieldShape): void {
    this.#jobs.require(jobId).fieldShape = shape;
  }

  /** Makes every GetProjectExportJob response for the job this exact body. `undefined` returns to the script. */
  setRawBody(jobId: string, body: string | undefined): void {
    this.#jobs.require(jobId).rawBody = body;
  }

  /** Moves the emulator's clock by `offsetMs` against the machine's, to test clock-skew rejections. */
  setClockOffset(offsetMs: number): void {
    this.#clockOffsetMs = offsetMs;
  }

  /** Sends an IMS event callback; see `sendIceCallback`. */
  sendCallback(options: SendCallbackOptions): Promise<CallbackDelivery> {
    return sendIceCallback(options);
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const incoming = parseIncoming(request);
    const fault = this.faults.take({
      method: incoming.method,
      path: incoming.url.pathname,
      query: incoming.url.searchParams,
      headers: request.headers,
      operation: incoming.operation,
    });
    const record = (status: number, detail: Record<string, unknown>): void => {
      this.#recordRequest(incoming, status, { fault: fault?.kind, ...detail });
    };

    if (fault?.kind === 'drop' && fault.stage !== 'response-body') {
      await readAtMost(request, fault.afterBytes);
      request.socket.destroy();
      record(0, {});
      return;
    }
    const body = await readBodyUnlessClosed(request);
    if (body === undefined) {
      record(0, { error: 'the client closed the connection' });
      return;
    }
    // The request is processed after the delay even when the client has given up by then, as on a slow server.
    if (fault?.kind === 'delay') await sleep(fault.ms);

    const signed: SignedRequest = {
      method: incoming.method,
      path: rawPath(request.url ?? '/'),
      query: [...incoming.url.searchParams],
      formParameters: formParametersOf(incoming.headers['content-type'], body),
      headers: incoming.headers,
      body,
    };
    const hostId = incoming.headers['host'] ?? '127.0.0.1';
    const { prepared, jobId } =
      injectedResult(fault, incoming.requestId, hostId) ?? (await this.#prepareResponse(signed, incoming.operation, incoming.requestId, hostId));

    const status = await sendResponse(response, prepared, fault);
    record(status, { jobId, code: prepared.code });
  }

  /** Logs the request. `detail` values that are undefined are left out, so the JobId from the query stays. */
  #recordRequest(incoming: IncomingRequest, status: number, detail: Record<string, unknown>): void {
    const recorded: Record<string, unknown> = { requestId: incoming.requestId };
    const queryJobId = incoming.url.searchParams.get('JobId');
    if (queryJobId !== null) recorded['jobId'] = queryJobId;
    for (const [name, value] of Object.entries(detail)) {
      if (value !== undefined) recorded[name] = value;
    }

    this.requests.record({
      method: incoming.method,
      path: incoming.url.pathname,
      operation: incoming.operation,
      status,
      atMs: incoming.receivedAtMs,
      detail: recorded,
    });
  }

  async #prepareResponse(
    request: SignedRequest,
    operation: string,
    requestId: string,
    hostId: string,
  ): Promise<{ prepared: PreparedResponse; jobId?: string }> {
    try {
      const handler = this.#route(request, operation);
      const parameters = new Map<string, string>([...request.query, ...request.formParameters]);
      const result = await handler(parameters, this.#operationContext(requestId));
      return { prepared: jsonResponse(result.body, requestId), jobId: result.jobId };
    } catch (error) {
      if (!(error instanceof PopError)) throw error;
      return { prepared: popErrorResponse(error, requestId, hostId) };
    }
  }

  /** Runs the gateway checks in order (method, path, signature, nonce, version, action) and returns the handler. */
  #route(request: SignedRequest, operation: string): OperationHandler {
    if (request.method !== 'GET' && request.method !== 'POST') {
      throw new PopError(400, PopErrorCode.UnsupportedHttpMethod, `HTTP method ${request.method} is not supported; use POST or GET.`);
    }
    if (request.path !== '/') {
      throw new PopError(404, PopErrorCode.InvalidActionNotFound, `Path ${request.path} is not an API; RPC requests go to "/".`);
    }

    const nowMs = Date.now() + this.#clockOffsetMs;
    const caller = authenticate(request, { credentials: this.#options.credentials, nowMs });
    this.#rememberNonce(caller, nowMs);

    const version = request.headers['x-acs-version'] ?? request.query.find(([name]) => name === 'Version')?.[1];
    if (version !== ICE_API_VERSION) {
      throw new PopError(400, PopErrorCode.InvalidVersion, `API version ${version ?? '(missing)'} is not valid for ICE; use ${ICE_API_VERSION}.`);
    }
    const handler = OPERATIONS[operation];
    if (handler === undefined) {
      throw new PopError(404, PopErrorCode.InvalidActionNotFound, `Specified api ${operation} is not found for ICE ${ICE_API_VERSION}.`);
    }
    return handler;
  }

  // The gateway rejects a nonce seen within the allowed clock skew, which stops replayed requests.
  #rememberNonce(caller: AuthenticatedCaller, nowMs: number): void {
    for (const [key, expiresAtMs] of this.#usedNonces) {
      if (expiresAtMs <= nowMs) this.#usedNonces.delete(key);
    }
    const key = `${caller.accessKeyId}:${caller.nonce}`;
    if (this.#usedNonces.has(key)) {
      throw new PopError(400, PopErrorCode.SignatureNonceUsed, `Signature nonce ${caller.nonce} was already used; send a new nonce with every request.`);
    }
    this.#usedNonces.set(key, nowMs + MAX_CLOCK_SKEW_MS);
  }

  #operationContext(requestId: string): OperationContext {
    return {
      jobs: this.#jobs,
      requestId,
      objectStore: this.#options.objectStore,
      urlSigningCredentials: this.#urlSigningCredentials,
      createdBuckets: this.#createdBuckets,
      jobNotFound: this.#options.jobNotFound ?? { status: 404, code: PopErrorCode.JobNotFound },
    };
  }

  #failUnexpectedly(response: ServerResponse, error: unknown): void {
    console.error('IMS emulator failed to handle a request:', error);
    if (response.headersSent) {
      response.destroy();
      return;
    }
    const message = `The IMS emulator failed: ${error instanceof Error ? error.message : String(error)}`;
    const prepared = popErrorResponse({ status: 500, code: PopErrorCode.InternalError, message }, newRequestId(), '127.0.0.1');
    void sendResponse(response, prepared, undefined);
  }

  #listening(): { port: number; url: string } {
    if (this.#address === undefined) throw new Error('The IMS emulator is not listening yet; call listen() first.');
    return this.#address;
  }
}

/** Starts an IMS emulator on 127.0.0.1. */
export async function startImsEmulator(options: ImsEmulatorOptions): Promise<ImsEmulator> {
  const emulator = new ImsEmulator(options);
  await emulator.listen(options.port);
  return emulator;
}

interface IncomingRequest {
  receivedAtMs: number;
  requestId: string;
  method: string;
  /** The request URL, resolved against the loopback address only to parse it. */
  url: URL;
  headers: Record<string, string | undefined>;
  /** The action from `x-acs-action` or the `Action` query parameter, or `Unknown`. */
  operation: string;
}

function parseIncoming(request: IncomingMessage): IncomingRequest {
  const url = new URL(request.url ?? '/', 'http://127.0.0.1');
  const headers = flattenHeaders(request);
  return {
    receivedAtMs: Date.now(),
    requestId: newRequestId(),
    method: request.method ?? '',
    url,
    headers,
    operation: headers['x-acs-action'] ?? url.searchParams.get('Action') ?? 'Unknown',
  };
}

function injectedResult(fault: Fault | undefined, requestId: string, hostId: string): { prepared: PreparedResponse; jobId?: string } | undefined {
  const prepared = injectedResponse(fault, requestId, hostId);
  return prepared === undefined ? undefined : { prepared };
}

/** Header values by lower-case name; a repeated header keeps its first value. */
function flattenHeaders(request: IncomingMessage): Record<string, string | undefined> {
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    headers[name] = Array.isArray(value) ? value[0] : value;
  }
  return headers;
}

function rawPath(url: string): string {
  const question = url.indexOf('?');
  return question === -1 ? url : url.slice(0, question);
}

function formParametersOf(contentType: string | undefined, body: Buffer): Parameter[] {
  if (contentType === undefined || !contentType.toLowerCase().startsWith('application/x-www-form-urlencoded')) return [];
  return [...new URLSearchParams(body.toString('utf8'))];
}

/** Reads the whole body, or returns undefined when the client closed the connection first. */
async function readBodyUnlessClosed(request: IncomingMessage): Promise<Buffer | undefined> {
  try {
    return await readBody(request);
  } catch (error) {
    if (request.socket.destroyed) return undefined;
    throw error;
  }
}

/** Reads up to `maxBytes` of the request body, for a fault that drops the connection part-way. */
async function readAtMost(request: IncomingMessage, maxBytes: number): Promise<void> {
  if (maxBytes <= 0) return;
  let total = 0;
  for await (const chunk of request) {
    total += (chunk as Buffer).length;
    if (total >= maxBytes) return;
  }
}
