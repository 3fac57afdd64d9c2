/**
 * Types of the Function Compute 3.0 Node.js runtime (nodejs18 and nodejs20) as this product uses them:
 * the handler signature, the `context` object and the events of the HTTP and timer triggers.
 *
 * FC passes every event as a Buffer. Handlers parse it themselves, for example with
 * `JSON.parse(event.toString('utf8'))`.
 */
import { randomBytes } from 'node:crypto';
import { format } from 'node:util';

/**
 * STS credentials of the function's RAM role. FC passes an empty object `{}` when the function has no
 * role, so every field may be missing.
 */
export interface FcCredentials {
  accessKeyId?: string;
  accessKeySecret?: string;
  securityToken?: string;
}

/** Settings of the invoked function. */
export interface FcFunctionMeta {
  name: string;
  /** Handler string in `file.method` form, such as `index.handler`. */
  handler: string;
  /** Memory size in MB. */
  memory: number;
  /** Execution timeout in seconds. */
  timeout: number;
}

/** Log and version settings. FC 3.0 has no services, but it still fills this object. */
export interface FcServiceMeta {
  logProject: string;
  logStore: string;
  /** Version or alias the invocation named, `LATEST` by default. */
  qualifier: string;
  versionId: string;
}

/** The runtime's logger, which prints `time requestId [level] message` lines. */
export interface FcLogger {
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
  log(...args: unknown[]): void;
}

/** The `context` argument of an FC 3.0 handler. */
export interface FcContext {
  requestId: string;
  credentials: FcCredentials;
  function: FcFunctionMeta;
  service: FcServiceMeta;
  /** Region ID such as `cn-shanghai`. */
  region: string;
  accountId: string;
  /**
   * How many times FC has already retried this asynchronous invocation: 0 on the first attempt.
   * FC does not document this field but fills it in practice; treat it as a hint, not as a guarantee.
   */
  retryCount?: number;
  logger?: FcLogger;
}

/** Details of the HTTP request behind an HTTP-trigger event. */
export interface FcHttpRequestContext {
  accountId: string;
  /** Trigger domain, such as `<trigger-id>.<region>.fcapp.run`. */
  domainName: string;
  domainPrefix: string;
  requestId: string;
  /** Arrival time in ISO 8601. */
  time: string;
  /** Arrival time in epoch milliseconds, sent as a string. */
  timeEpoch: string;
  http: {
    method: string;
    /** Decoded request path. */
    path: string;
    protocol: string;
    sourceIp: string;
    userAgent: string;
  };
}

/**
 * Event of an HTTP trigger (payload version `v1`). FC re-cases header names Go-style (`X-Ice-Signature`),
 * so look them up case-insensitively. Repeated headers and query parameters arrive joined with commas.
 */
export interface FcHttpEvent {
  version: string;
  /** Request path, still percent-encoded. */
  rawPath: string;
  headers: Record<string, string>;
  queryParameters: Record<string, string>;
  /** Request body; base64 when `isBase64Encoded` is true. */
  body: string;
  isBase64Encoded: boolean;
  requestContext: FcHttpRequestContext;
}

/** Result of an HTTP-trigger handler. Set `isBase64Encoded` and base64 the body to send binary data. */
export interface FcHttpResponse {
  statusCode: number;
  headers?: Record<string, string>;
  body: string;
  isBase64Encoded?: boolean;
}

/** Event of a timer trigger. */
export interface FcTimerEvent {
  /** Scheduled time in ISO 8601, such as `2023-12-26T07:49:00Z`. */
  triggerTime: string;
  triggerName: string;
  /** The string configured on the trigger. JSON in it must be parsed a second time. */
  payload: string;
}

/** An FC 3.0 handler: `event` is the raw payload, and the resolved value becomes the invocation's result. */
export type FcHandler<R> = (event: Buffer, context: FcContext) => Promise<R>;

export interface LocalContextOptions {
  functionName: string;
  timeoutSeconds: number;
  memoryMb: number;
  /** Role credentials; pass `{}` to run as a function without a role. */
  credentials: FcCredentials;
  region: string;
  accountId: string;
  /** Generated in FC's `1-<hex time>-<random>` form when omitted. */
  requestId?: string;
  /** Default `index.handler`. */
  handler?: string;
  /** Default `LATEST`. */
  qualifier?: string;
  retryCount?: number;
  /** Destination of the context logger's lines. Default: standard output. */
  writeLog?: (line: string) => void;
}

/** Builds a context shaped like the one FC 3.0 passes, for tests and local runs. */
export function createLocalContext(options: LocalContextOptions): FcContext {
  const requestId = options.requestId ?? createFcRequestId();
  const context: FcContext = {
    requestId,
    credentials: { ...options.credentials },
    function: {
      name: options.functionName,
      handler: options.handler ?? 'index.handler',
      memory: options.memoryMb,
      timeout: options.timeoutSeconds,
    },
    service: { logProject: '', logStore: '', qualifier: options.qualifier ?? 'LATEST', versionId: '' },
    region: options.region,
    accountId: options.accountId,
    logger: createFcLogger(requestId, options.writeLog ?? ((line) => process.stdout.write(`${line}\n`))),
  };
  if (options.retryCount !== undefined) context.retryCount = options.retryCount;
  return context;
}

/** Creates a request ID in the form FC 3.0 uses: `1-<8 hex digits of epoch seconds>-<24 random hex digits>`. */
export function createFcRequestId(nowMs = Date.now()): string {
  const seconds = Math.floor(nowMs / 1000).toString(16).padStart(8, '0');
  return `1-${seconds}-${randomBytes(12).toString('hex')}`;
}

function createFcLogger(requestId: string, writeLog: (line: string) => void): FcLogger {
  const write =
    (level: string) =>
    (...args: unknown[]): void => {
      writeLog(`${new Date().toISOString()} ${requestId} [${level}] ${format(...args)}`);
    };
  return { debug: write('DEBUG'), info: write('INFO'), warn: write('WARN'), error: write('ERROR'), log: write('INFO') };
}

/**
 * Returns the text of an invocation's event. FC passes a Buffer; a string, or an event object that a local
 * harness passes already parsed, is accepted too.
 */
export function eventText(event: unknown): string {
  if (event instanceof Uint8Array) return Buffer.from(event.buffer, event.byteOffset, event.byteLength).toString('utf8');
  if (typeof event === 'string') return event;
  if (event === undefined || event === null) return '';
  return JSON.stringify(event);
}
