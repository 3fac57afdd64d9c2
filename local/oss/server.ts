import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CredentialStore } from '../common/credentials';
import type { Fault, FaultInjector, RequestInfo } from '../common/faults';
import { sleep, type RequestLog } from '../common/http';
import { authenticate } from './auth';
import { OssServiceError, ossErrors } from './errors';
import type { OperationContext } from './handlers/context';
import { ConnectionClosed } from './ingest';
import { corruptReply, errorReply, sendReply, type OssReply, type SendOutcome } from './reply';
import { HANDLERS, UPLOAD_OPERATIONS, operationOf } from './routes';
import type { OssStore } from './store';
import { parseTarget, type RequestTarget } from './target';

export interface OssServerParts {
  store: OssStore;
  credentials: CredentialStore;
  faults: FaultInjector;
  requests: RequestLog;
}

/** The outcome of one request, for the request log. */
interface Exchange {
  requestId: string;
  operation: string;
  target: RequestTarget | undefined;
  accessKeyId: string | undefined;
  fault: Fault | undefined;
  errorCode: string | undefined;
}

/** Returns the `request` listener of the emulator's HTTP server. */
export function createRequestListener(parts: OssServerParts): (request: IncomingMessage, response: ServerResponse) => void {
  return (request, response) => {
    handleRequest(parts, request, response).catch((error: unknown) => {
      console.error('OSS emulator: failed to send a response', error);
      response.destroy();
    });
  };
}

async function handleRequest(parts: OssServerParts, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const arrivedAtMs = Date.now();
  const exchange: Exchange = {
    requestId: randomBytes(12).toString('hex').toUpperCase(),
    operation: 'Unknown',
    target: undefined,
    accessKeyId: undefined,
    fault: undefined,
    errorCode: undefined,
  };
  response.setHeader('x-oss-request-id', exchange.requestId);
  response.setHeader('server', 'AliyunOSS');

  let reply: OssReply | undefined;
  let outcome: SendOutcome;
  try {
    reply = await produceReply(parts, request, exchange);
    outcome = await sendReply(response, reply, responseFault(exchange));
  } catch (error) {
    if (error instanceof ConnectionClosed) {
      outcome = 'dropped';
    } else {
      reply = errorReplyFor(error, request, exchange);
      await drainRequest(request);
      outcome = await sendReply(response, reply, undefined);
    }
  }

  parts.requests.record({
    method: request.method ?? '',
    path: request.url ?? '',
    operation: exchange.operation,
    status: outcome === 'dropped' && !response.headersSent ? 0 : (reply?.status ?? 0),
    atMs: arrivedAtMs,
    detail: {
      requestId: exchange.requestId,
      bucket: exchange.target?.bucket,
      key: exchange.target?.key,
      accessKeyId: exchange.accessKeyId,
      errorCode: exchange.errorCode,
      fault: exchange.fault?.kind,
      outcome,
    },
  });
}

/**
 * Runs one request through the steps OSS takes: fault injection, bucket lookup, signature check, operation.
 * Throws an OssServiceError for the client, or ConnectionClosed when no reply can be sent.
 */
async function produceReply(parts: OssServerParts, request: IncomingMessage, exchange: Exchange): Promise<OssReply> {
  const method = request.method ?? 'GET';
  const target = parseTarget(request.url ?? '/', request.headers.host);
  exchange.target = target;
  exchange.operation = operationOf(method, target, request.headers);
  const fault = parts.faults.take(requestInfo(request, exchange.operation));
  exchange.fault = fault;

  await applyRequestFault(fault);
  if (target.bucket === undefined) throw ossErrors.notImplemented(method, exchange.operation);
  const bucket = parts.store.requireBucket(target.bucket);
  exchange.accessKeyId = authenticate({ method, headers: request.headers, target }, parts.credentials, Date.now());

  const handler = HANDLERS[exchange.operation];
  if (handler === undefined) throw ossErrors.notImplemented(method, exchange.operation);

  const cutsRequestBody = fault?.kind === 'drop' && dropStage(fault, exchange.operation) === 'request-body';
  const context: OperationContext = {
    request,
    target,
    bucket,
    store: parts.store,
    accessKeyId: exchange.accessKeyId,
    dropAfterBytes: cutsRequestBody ? fault.afterBytes : undefined,
  };
  const reply = await handler(context);

  if (cutsRequestBody) {
    // The whole body fit under the drop threshold, so the operation ran. The client still never gets a reply.
    request.socket.destroy();
    throw new ConnectionClosed('dropped the connection after the request body, before the reply (fault)');
  }
  return fault?.kind === 'corrupt' ? corruptReply(reply, exchange.operation) : reply;
}

/**
 * Applies the faults that act before the operation runs. `throttle` becomes 503 TotalQpsLimitExceeded, the
 * code OSS documents for exceeding an account's request rate, which is what a bulk copier is most likely to hit.
 */
async function applyRequestFault(fault: Fault | undefined): Promise<void> {
  if (fault === undefined) return;

  switch (fault.kind) {
    case 'delay':
      await sleep(fault.ms);
      return;
    case 'throttle':
      throw new OssServiceError(503, 'TotalQpsLimitExceeded', 'Max total qps limit is exceeded');
    case 'error':
      if (fault.html) throw new HtmlErrorPage(fault.status);
      throw new OssServiceError(fault.status, fault.code ?? defaultCodeFor(fault.status), fault.message ?? defaultMessageFor(fault.status));
    default:
      return;
  }
}

function dropStage(fault: Extract<Fault, { kind: 'drop' }>, operation: string): 'request-body' | 'response-body' {
  return fault.stage ?? (UPLOAD_OPERATIONS.has(operation) ? 'request-body' : 'response-body');
}

function responseFault(exchange: Exchange): Extract<Fault, { kind: 'drop' | 'truncate' }> | undefined {
  const fault = exchange.fault;
  if (fault?.kind === 'truncate') return fault;
  if (fault?.kind === 'drop' && dropStage(fault, exchange.operation) === 'response-body') return fault;
  return undefined;
}

/** An HTML error page, as a load balancer in front of OSS sends instead of OSS's XML. */
class HtmlErrorPage extends Error {
  readonly status: number;

  constructor(status: number) {
    super(`HTML error page with status ${status} (fault)`);
    this.name = 'HtmlErrorPage';
    this.status = status;
  }
}

function errorReplyFor(error: unknown, request: IncomingMessage, exchange: Exchange): OssReply {
  if (error instanceof HtmlErrorPage) {
    const html = `<html><head><title>${error.status}</title></head><body><h1>${error.status}</h1></body></html>`;
    return { status: error.status, headers: { 'content-type': 'text/html' }, body: Buffer.from(html, 'utf8') };
  }

  const ossError = error instanceof OssServiceError ? error : ossErrors.internalError(error);
  if (!(error instanceof OssServiceError)) {
    console.error(`OSS emulator: ${exchange.operation} failed with an internal error (request ${exchange.requestId})`, error);
  }
  exchange.errorCode = ossError.code;
  const hostId = exchange.target?.host ?? request.headers.host ?? '';
  return errorReply(ossError, exchange.requestId, hostId, request.method ?? 'GET');
}

function defaultCodeFor(status: number): string {
  if (status === 503) return 'ServiceUnavailable';
  if (status >= 500) return 'InternalError';
  return 'InvalidRequest';
}

function defaultMessageFor(status: number): string {
  if (status === 503) return 'Service is temporarily unavailable, please retry later.';
  if (status >= 500) return 'We encountered an internal error. Please try again.';
  return `Request failed with status ${status} (injected fault).`;
}

function requestInfo(request: IncomingMessage, operation: string): RequestInfo {
  const url = request.url ?? '/';
  const queryStart = url.indexOf('?');
  return {
    method: request.method ?? 'GET',
    path: queryStart === -1 ? url : url.slice(0, queryStart),
    query: new URLSearchParams(queryStart === -1 ? '' : url.slice(queryStart + 1)),
    headers: request.headers,
    operation,
  };
}

/** Reads and discards what is left of the request body, so that the client receives the error reply. */
async function drainRequest(request: IncomingMessage): Promise<void> {
  if (request.complete || request.destroyed) return;
  const ended = Promise.race([once(request, 'end'), once(request, 'close')]).catch(() => undefined);
  request.resume();
  await ended;
}
