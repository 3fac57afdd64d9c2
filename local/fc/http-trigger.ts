import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { FcContext, FcHttpEvent, FcHttpResponse } from '../../lib/fc-types';
import { createFcRequestId } from '../../lib/fc-types';
import { closeServer, listenOnLoopback, readBody } from '../common/http';

/** FC's limit on an HTTP trigger's request body. */
const MAX_BODY_BYTES = 32 * 1024 * 1024;

export interface HttpTriggerOptions {
  /** The function behind the trigger. */
  handler: (event: Buffer, context: FcContext) => Promise<FcHttpResponse>;
  /** Builds the context of each invocation (fresh role credentials, function settings). */
  createContext: (requestId: string) => FcContext;
  port?: number;
}

/**
 * An FC 3.0 HTTP trigger on 127.0.0.1: turns each HTTP request into the event FC passes to a built-in
 * runtime (headers re-cased Go-style, repeated values joined with commas, binary bodies in base64) and the
 * handler's `{statusCode, headers, body}` back into the HTTP response.
 */
export class HttpTrigger {
  readonly #server: Server;
  readonly #options: HttpTriggerOptions;
  #url: string | undefined;

  constructor(options: HttpTriggerOptions) {
    this.#options = options;
    this.#server = createServer((request, response) => {
      this.#handle(request, response).catch((error: unknown) => {
        response.writeHead(502, { 'content-type': 'application/json', 'x-fc-error-type': 'UnhandledInvocationError' });
        response.end(JSON.stringify({ errorMessage: (error as Error).message }));
      });
    });
  }

  /** Base URL of the trigger, such as `http://127.0.0.1:41234`. */
  get url(): string {
    if (this.#url === undefined) throw new Error('the HTTP trigger is not listening; call listen() first');
    return this.#url;
  }

  async listen(): Promise<void> {
    this.#url = (await listenOnLoopback(this.#server, this.#options.port ?? 0)).url;
  }

  async close(): Promise<void> {
    await closeServer(this.#server);
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const requestId = createFcRequestId();
    const body = await readBody(request, MAX_BODY_BYTES);
    const event = toHttpEvent(request, body, requestId);
    const result = await this.#options.handler(Buffer.from(JSON.stringify(event)), this.#options.createContext(requestId));

    const payload = result.isBase64Encoded ? Buffer.from(result.body, 'base64') : Buffer.from(result.body ?? '', 'utf8');
    response.writeHead(result.statusCode, { ...result.headers, 'x-fc-request-id': requestId });
    response.end(payload);
  }
}

/** Builds the FC 3.0 HTTP event (payload version v1) for one request. */
export function toHttpEvent(request: IncomingMessage, body: Buffer, requestId: string): FcHttpEvent {
  const url = new URL(request.url ?? '/', 'http://127.0.0.1');
  const queryParameters: Record<string, string> = {};
  for (const [name, value] of url.searchParams) {
    queryParameters[name] = queryParameters[name] === undefined ? value : `${queryParameters[name]},${value}`;
  }

  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined) continue;
    headers[canonicalHeaderName(name)] = Array.isArray(value) ? value.join(',') : value;
  }

  const text = body.toString('utf8');
  const isText = Buffer.from(text, 'utf8').equals(body);
  const now = new Date();
  return {
    version: 'v1',
    rawPath: url.pathname,
    headers,
    queryParameters,
    body: isText ? text : body.toString('base64'),
    isBase64Encoded: !isText,
    requestContext: {
      accountId: '',
      domainName: request.headers.host ?? '127.0.0.1',
      domainPrefix: '',
      requestId,
      time: now.toISOString(),
      timeEpoch: String(now.getTime()),
      http: {
        method: request.method ?? 'GET',
        path: decodeURIComponent(url.pathname),
        protocol: `HTTP/${request.httpVersion}`,
        sourceIp: request.socket.remoteAddress ?? '',
        userAgent: request.headers['user-agent'] ?? '',
      },
    },
  };
}

/** Re-cases a header name as FC does (Go's canonical form): `x-ice-signature` becomes `X-Ice-Signature`. */
export function canonicalHeaderName(name: string): string {
  return name
    .toLowerCase()
    .split('-')
    .map((part) => (part === '' ? part : part[0]!.toUpperCase() + part.slice(1)))
    .join('-');
}

export async function startHttpTrigger(options: HttpTriggerOptions): Promise<HttpTrigger> {
  const trigger = new HttpTrigger(options);
  await trigger.listen();
  return trigger;
}
