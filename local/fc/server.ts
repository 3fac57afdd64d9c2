/**
 * Local emulator of the FC invoke API on 127.0.0.1, as `@alicloud/fc2` 2.6.6 calls it:
 *
 * - `POST /2023-03-30/functions/<name>/invocations` (FC 3.0; fc2 with `version` set to `2023-03-30`)
 * - `POST /2016-08-15/services/<service>[.<qualifier>]/functions/<name>/invocations` (`invokeFunction`)
 *
 * Every request must carry a valid fc2 signature from a key in the shared CredentialStore. Registered
 * handlers run in this process: synchronously, or after a 202 response for `x-fc-invocation-type: Async`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { CredentialStore } from '../common/credentials';
import { FaultInjector, type Fault, type RequestInfo } from '../common/faults';
import { RequestLog, closeServer, headerValue, listenOnLoopback, readBody, sleep } from '../common/http';
import { createFcRequestId, type FcHandler } from '../../lib/fc-types';
import { authenticate } from './auth';
import { FcErrorCode, defaultCodeForStatus, errorBody, fcError, type FcApiError } from './errors';
import { matchInvocationRoute, type InvocationRoute } from './routes';
import { FunctionRuntime, InvocationType, type FcInvocation, type RegisterOptions } from './runtime';
import { contentMd5Matches } from './signature';

/** Largest payload of a synchronous invocation that FC 3.0 accepts: 32 MB. */
export const MAX_SYNC_PAYLOAD_BYTES = 32 * 1024 * 1024;
/** Largest payload of an asynchronous invocation that FC 3.0 accepts: 128 KB. */
export const MAX_ASYNC_PAYLOAD_BYTES = 128 * 1024;

const INVOKE_OPERATION = 'InvokeFunction';

export interface FcEmulatorOptions {
  credentials: CredentialStore;
  accountId: string;
  region: string;
  /** Port on 127.0.0.1; a free one when omitted. */
  port?: number;
  /** Wait before the first retry of a failed async invocation, doubled for each later retry. Default 20 ms. */
  asyncRetryBaseDelayMs?: number;
  /** Destination of the handlers' `context.logger` lines. Default: standard output. */
  writeFunctionLog?: (line: string) => void;
}

export interface FcEmulator {
  /** Base URL such as `http://127.0.0.1:40123`, to pass as fc2's `endpoint`. */
  url: string;
  port: number;
  faults: FaultInjector;
  requests: RequestLog;
  /** Every invocation that reached a handler, in arrival order. */
  readonly invocations: readonly FcInvocation[];
  /** Makes `functionName` invocable; registering a name again replaces its handler. */
  register(functionName: string, handler: FcHandler<unknown>, options?: RegisterOptions): void;
  /** Waits until every accepted async invocation has finished, retries included. */
  drain(): Promise<void>;
  /** Stops the server. Async invocations still running are not awaited: call `drain()` first. */
  close(): Promise<void>;
}

/** One HTTP response, before any response-side fault changes it. */
interface PlannedResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  detail: Record<string, unknown>;
}

interface EmulatorState {
  options: FcEmulatorOptions;
  faults: FaultInjector;
  requests: RequestLog;
  runtime: FunctionRuntime;
}

export async function startFcEmulator(options: FcEmulatorOptions): Promise<FcEmulator> {
  const state: EmulatorState = {
    options,
    faults: new FaultInjector(),
    requests: new RequestLog(),
    runtime: new FunctionRuntime({
      credentials: options.credentials,
      accountId: options.accountId,
      region: options.region,
      asyncRetryBaseDelayMs: options.asyncRetryBaseDelayMs ?? 20,
      writeFunctionLog: options.writeFunctionLog ?? ((line) => process.stdout.write(`${line}\n`)),
    }),
  };

  const server = createServer((request, response) => {
    handleRequest(state, request, response).catch((error: unknown) => {
      // Only a failure while writing the response lands here, so closing the connection is all that is left.
      response.destroy(error instanceof Error ? error : undefined);
    });
  });
  const { port, url } = await listenOnLoopback(server, options.port);

  return {
    url,
    port,
    faults: state.faults,
    requests: state.requests,
    get invocations() {
      return state.runtime.invocations;
    },
    register: (functionName, handler, registerOptions) => state.runtime.register(functionName, handler, registerOptions),
    drain: () => state.runtime.drain(),
    close: () => closeServer(server),
  };
}

async function handleRequest(state: EmulatorState, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const atMs = Date.now();
  const requestId = createFcRequestId(atMs);
  const method = request.method ?? 'GET';
  const url = new URL(request.url ?? '/', 'http://127.0.0.1');
  const route = method === 'POST' ? matchInvocationRoute(url.pathname, url.searchParams) : undefined;
  const operation = route === undefined ? 'Unknown' : INVOKE_OPERATION;
  const record = (status: number, detail: Record<string, unknown>): void =>
    state.requests.record({ method, path: url.pathname, operation, status, atMs, detail });

  const info: RequestInfo = { method, path: url.pathname, query: url.searchParams, headers: request.headers, operation };
  const fault = state.faults.take(info);

  if (fault?.kind === 'drop' && (fault.stage ?? 'request-body') === 'request-body') {
    await dropAfterRequestBytes(request, fault.afterBytes);
    record(0, { requestId, fault: 'drop' });
    return;
  }
  if (fault?.kind === 'delay') await sleep(fault.ms);

  const planned = replacesResponse(fault)
    ? await faultResponse(request, fault, requestId)
    : await respondToRequest(state, request, url, route, requestId);

  sendResponse(response, planned, fault);
  record(planned.status, fault === undefined ? planned.detail : { ...planned.detail, fault: fault.kind });
}

async function respondToRequest(
  state: EmulatorState,
  request: IncomingMessage,
  url: URL,
  route: InvocationRoute | undefined,
  requestId: string,
): Promise<PlannedResponse> {
  try {
    return await invoke(state, request, url, route, requestId);
  } catch (error) {
    request.resume();
    const message = error instanceof Error ? error.message : String(error);
    return errorResponse(fcError(500, FcErrorCode.InternalServerError, `the emulator failed: ${message}`), requestId);
  }
}

/** Checks path, signature, body, function name and invocation type, in that order, then invokes the function. */
async function invoke(
  state: EmulatorState,
  request: IncomingMessage,
  url: URL,
  route: InvocationRoute | undefined,
  requestId: string,
): Promise<PlannedResponse> {
  const method = request.method ?? 'GET';
  if (route === undefined) {
    const error = fcError(400, FcErrorCode.PathNotSupported, `${method} ${url.pathname} is not an FC invocation path`);
    return rejectUnread(request, error, requestId);
  }

  const auth = authenticate({
    method,
    path: url.pathname,
    headers: request.headers,
    accountId: state.options.accountId,
    credentials: state.options.credentials,
    nowMs: Date.now(),
  });
  if (!auth.ok) return rejectUnread(request, auth.error, requestId);

  const payload = await readPayload(request);
  if (!Buffer.isBuffer(payload)) return errorResponse(payload, requestId, { connection: 'close' });

  const md5 = headerValue(request, 'content-md5');
  if (md5 !== undefined && !contentMd5Matches(md5, payload)) {
    const error = fcError(400, FcErrorCode.InvalidArgument, `Content-MD5 '${md5}' does not match the request body`);
    return errorResponse(error, requestId);
  }

  if (!state.runtime.has(route.functionName)) {
    const error = fcError(404, FcErrorCode.FunctionNotFound, `function '${route.functionName}' does not exist`);
    return errorResponse(error, requestId);
  }

  const invocationType = parseInvocationType(headerValue(request, 'x-fc-invocation-type'));
  if (invocationType === undefined) {
    const value = headerValue(request, 'x-fc-invocation-type');
    const error = fcError(400, FcErrorCode.InvalidArgument, `x-fc-invocation-type '${value}' is neither Sync nor Async`);
    return errorResponse(error, requestId);
  }

  const detail = { requestId, functionName: route.functionName, invocationType, apiVersion: route.apiVersion };
  if (invocationType === InvocationType.Async) return invokeAsync(state, route, payload, requestId, detail);
  return invokeSync(state, route, payload, requestId, detail);
}

function invokeAsync(
  state: EmulatorState,
  route: InvocationRoute,
  payload: Buffer,
  requestId: string,
  detail: Record<string, unknown>,
): PlannedResponse {
  if (payload.length > MAX_ASYNC_PAYLOAD_BYTES) {
    return errorResponse(entityTooLarge(MAX_ASYNC_PAYLOAD_BYTES), requestId);
  }
  state.runtime.enqueueAsync(route, payload, requestId);
  return { status: 202, headers: baseHeaders(requestId), body: Buffer.alloc(0), detail };
}

async function invokeSync(
  state: EmulatorState,
  route: InvocationRoute,
  payload: Buffer,
  requestId: string,
  detail: Record<string, unknown>,
): Promise<PlannedResponse> {
  const result = await state.runtime.invokeSync(route, payload, requestId);
  if (result.ok) {
    // fc2 parses only application/json bodies; FC's invocation results reach fc2 callers as text.
    const headers = { ...baseHeaders(requestId), 'content-type': 'application/octet-stream' };
    return { status: 200, headers, body: result.body, detail };
  }
  const headers = {
    ...baseHeaders(requestId),
    'content-type': 'application/json',
    'x-fc-error-type': 'UnhandledInvocationError',
  };
  return { status: 200, headers, body: result.body, detail: { ...detail, errorType: 'UnhandledInvocationError' } };
}

/** Reads the payload, or returns EntityTooLarge once it passes the synchronous limit. */
async function readPayload(request: IncomingMessage): Promise<Buffer | FcApiError> {
  try {
    return await readBody(request, MAX_SYNC_PAYLOAD_BYTES);
  } catch {
    request.resume();
    return entityTooLarge(MAX_SYNC_PAYLOAD_BYTES);
  }
}

function parseInvocationType(value: string | undefined): InvocationType | undefined {
  if (value === undefined || value.toLowerCase() === 'sync') return InvocationType.Sync;
  if (value.toLowerCase() === 'async') return InvocationType.Async;
  return undefined;
}

function entityTooLarge(limit: number): FcApiError {
  return fcError(400, FcErrorCode.EntityTooLarge, `payload is larger than the ${limit}-byte limit`);
}

// Error and throttle faults replace the normal response. The others change how a response is sent.
function replacesResponse(fault: Fault | undefined): fault is Extract<Fault, { kind: 'error' | 'throttle' }> {
  return fault?.kind === 'error' || fault?.kind === 'throttle';
}

async function faultResponse(
  request: IncomingMessage,
  fault: Extract<Fault, { kind: 'error' | 'throttle' }>,
  requestId: string,
): Promise<PlannedResponse> {
  await readBody(request).catch(() => undefined);
  if (fault.kind === 'throttle') {
    const error = fcError(429, FcErrorCode.ResourceThrottled, 'too many concurrent requests for this function: retry later');
    return errorResponse(error, requestId);
  }
  if (fault.html === true) {
    const body = Buffer.from(`<html><body><h1>${fault.status} gateway error</h1></body></html>`, 'utf8');
    return { status: fault.status, headers: { 'content-type': 'text/html' }, body, detail: { requestId } };
  }
  const code = fault.code ?? defaultCodeForStatus(fault.status);
  return errorResponse(fcError(fault.status, code, fault.message ?? `injected fault: ${code}`), requestId);
}

function rejectUnread(request: IncomingMessage, error: FcApiError, requestId: string): PlannedResponse {
  request.resume();
  return errorResponse(error, requestId);
}

function errorResponse(error: FcApiError, requestId: string, extraHeaders: Record<string, string> = {}): PlannedResponse {
  return {
    status: error.status,
    headers: { ...baseHeaders(requestId), 'content-type': 'application/json', ...extraHeaders },
    body: errorBody(error),
    detail: { requestId, errorCode: error.code, errorMessage: error.message },
  };
}

function baseHeaders(requestId: string): Record<string, string> {
  return { 'x-fc-request-id': requestId, date: new Date().toUTCString() };
}

/** Sends `planned`, changed by a response-side fault (corrupt, truncate, or drop at the response body). */
function sendResponse(response: ServerResponse, planned: PlannedResponse, fault: Fault | undefined): void {
  const body = fault?.kind === 'corrupt' ? corruptBytes(planned.body) : planned.body;

  if (fault?.kind === 'truncate') {
    // No Content-Length, so the shortened body still ends the response cleanly.
    response.writeHead(planned.status, planned.headers);
    response.end(body.subarray(0, fault.afterBytes));
    return;
  }

  if (fault?.kind === 'drop') {
    // When the whole body fits in `afterBytes`, the status line is withheld too: otherwise the client
    // would receive a complete response, such as a 202 with an empty body.
    if (body.length <= fault.afterBytes) {
      response.destroy();
      return;
    }
    response.writeHead(planned.status, { ...planned.headers, 'content-length': String(body.length) });
    response.write(body.subarray(0, fault.afterBytes), () => response.destroy());
    return;
  }

  response.writeHead(planned.status, { ...planned.headers, 'content-length': String(body.length) });
  response.end(body);
}

function corruptBytes(body: Buffer): Buffer {
  const copy = Buffer.from(body);
  for (let index = 0; index < copy.length; index += 97) copy[index] = copy[index]! ^ 0xff;
  return copy;
}

/** Reads the request body until `afterBytes` bytes have arrived, then destroys the connection. */
async function dropAfterRequestBytes(request: IncomingMessage, afterBytes: number): Promise<void> {
  let received = 0;
  for await (const chunk of request) {
    received += (chunk as Buffer).length;
    if (received >= afterBytes) break;
  }
  request.socket.destroy();
}
