/**
 * The emulator's stand-in for FC's function instances: registered handlers run in this process, with a
 * context like FC 3.0's, a function timeout, and FC's retries of failed asynchronous invocations.
 */
import type { CredentialStore } from '../common/credentials';
import { sleep } from '../common/http';
import { createLocalContext, type FcContext, type FcHandler } from '../../lib/fc-types';
import type { InvocationRoute } from './routes';

export interface RegisterOptions {
  /** Function timeout in seconds. Default 60. */
  timeoutSeconds?: number;
  /** Memory size in MB, as the context reports it. Default 512. */
  memoryMb?: number;
  /** Retries after a failed asynchronous attempt, as in FC's async invocation config. Default 3. */
  maxAsyncRetryAttempts?: number;
}

export const InvocationType = { Sync: 'Sync', Async: 'Async' } as const;
export type InvocationType = (typeof InvocationType)[keyof typeof InvocationType];

export const InvocationOutcome = { Running: 'running', Succeeded: 'succeeded', Failed: 'failed' } as const;
export type InvocationOutcome = (typeof InvocationOutcome)[keyof typeof InvocationOutcome];

export interface InvocationAttempt {
  /** 0 for the first attempt, as `context.retryCount` reports it. */
  retryCount: number;
  outcome: 'succeeded' | 'failed' | 'timed-out';
  /** Message of the error the handler threw, or of the timeout. */
  error?: string;
  /** AccessKey ID of the STS credentials in the attempt's context, for checks that each attempt got its own. */
  accessKeyId: string;
}

/** One accepted invocation and what became of it. */
export interface FcInvocation {
  functionName: string;
  invocationType: InvocationType;
  requestId: string;
  route: InvocationRoute;
  /** The payload decoded as UTF-8. */
  payload: string;
  outcome: InvocationOutcome;
  attempts: InvocationAttempt[];
  /** Value the handler resolved with, once an attempt succeeded. */
  result?: unknown;
}

/** Body of a synchronous invocation's response: the handler's result, or FC's error body for an unhandled error. */
export type SyncResult = { ok: true; body: Buffer } | { ok: false; body: Buffer };

export interface FunctionRuntimeOptions {
  credentials: CredentialStore;
  accountId: string;
  region: string;
  /** Wait before the first async retry, doubled for each later one. */
  asyncRetryBaseDelayMs: number;
  /** Destination of `context.logger` lines. */
  writeFunctionLog: (line: string) => void;
}

interface RegisteredFunction {
  name: string;
  handler: FcHandler<unknown>;
  timeoutSeconds: number;
  memoryMb: number;
  maxAsyncRetryAttempts: number;
}

type AttemptResult = { ok: true; value: unknown } | { ok: false; timedOut: boolean; error: unknown };

export class FunctionRuntime {
  readonly invocations: FcInvocation[] = [];
  readonly #functions = new Map<string, RegisteredFunction>();
  readonly #running = new Set<Promise<void>>();
  readonly #options: FunctionRuntimeOptions;

  constructor(options: FunctionRuntimeOptions) {
    this.#options = options;
  }

  register(name: string, handler: FcHandler<unknown>, options: RegisterOptions = {}): void {
    this.#functions.set(name, {
      name,
      handler,
      timeoutSeconds: options.timeoutSeconds ?? 60,
      memoryMb: options.memoryMb ?? 512,
      maxAsyncRetryAttempts: options.maxAsyncRetryAttempts ?? 3,
    });
  }

  has(name: string): boolean {
    return this.#functions.has(name);
  }

  /** Runs the function once and returns the body FC would send. Sync invocations are never retried. */
  async invokeSync(route: InvocationRoute, payload: Buffer, requestId: string): Promise<SyncResult> {
    const fn = this.#lookup(route.functionName);
    const invocation = this.#record(fn, InvocationType.Sync, route, payload, requestId);

    const result = await this.#attempt(fn, invocation, payload, 0);
    if (result.ok) return { ok: true, body: serialiseResult(result.value) };
    return { ok: false, body: unhandledErrorBody(result, fn.timeoutSeconds) };
  }

  /** Accepts an asynchronous invocation and runs it in the background, with retries, until it succeeds or they run out. */
  enqueueAsync(route: InvocationRoute, payload: Buffer, requestId: string): FcInvocation {
    const fn = this.#lookup(route.functionName);
    const invocation = this.#record(fn, InvocationType.Async, route, payload, requestId);

    const run = this.#runAsync(fn, invocation, payload).finally(() => this.#running.delete(run));
    this.#running.add(run);
    return invocation;
  }

  /** Waits until every accepted asynchronous invocation has finished, including ones queued meanwhile. */
  async drain(): Promise<void> {
    while (this.#running.size > 0) await Promise.all([...this.#running]);
  }

  async #runAsync(fn: RegisteredFunction, invocation: FcInvocation, payload: Buffer): Promise<void> {
    // Let the 202 response go out before the handler starts, as FC queues the event first.
    await sleep(0);
    for (let retryCount = 0; retryCount <= fn.maxAsyncRetryAttempts; retryCount += 1) {
      if (retryCount > 0) await sleep(this.#options.asyncRetryBaseDelayMs * 2 ** (retryCount - 1));
      const result = await this.#attempt(fn, invocation, payload, retryCount);
      if (result.ok) return;
    }
  }

  async #attempt(
    fn: RegisteredFunction,
    invocation: FcInvocation,
    payload: Buffer,
    retryCount: number,
  ): Promise<AttemptResult> {
    const credentials = this.#options.credentials.issueStsCredentials();
    const context: FcContext = createLocalContext({
      functionName: fn.name,
      timeoutSeconds: fn.timeoutSeconds,
      memoryMb: fn.memoryMb,
      credentials: {
        accessKeyId: credentials.accessKeyId,
        accessKeySecret: credentials.accessKeySecret,
        securityToken: credentials.securityToken,
      },
      region: this.#options.region,
      accountId: this.#options.accountId,
      requestId: invocation.requestId,
      qualifier: invocation.route.qualifier ?? 'LATEST',
      retryCount,
      writeLog: this.#options.writeFunctionLog,
    });

    // Each attempt gets its own copy, so a handler that changes the buffer cannot change a retry's input.
    const result = await runWithTimeout(() => fn.handler(Buffer.from(payload), context), fn.timeoutSeconds * 1000);
    invocation.attempts.push(describeAttempt(result, retryCount, credentials.accessKeyId));
    if (result.ok) {
      invocation.outcome = InvocationOutcome.Succeeded;
      invocation.result = result.value;
    } else if (invocation.invocationType === InvocationType.Sync || retryCount >= fn.maxAsyncRetryAttempts) {
      invocation.outcome = InvocationOutcome.Failed;
    }
    return result;
  }

  #lookup(name: string): RegisteredFunction {
    const fn = this.#functions.get(name);
    if (fn === undefined) throw new Error(`function '${name}' is not registered with the FC emulator`);
    return fn;
  }

  #record(
    fn: RegisteredFunction,
    type: InvocationType,
    route: InvocationRoute,
    payload: Buffer,
    requestId: string,
  ): FcInvocation {
    const invocation: FcInvocation = {
      functionName: fn.name,
      invocationType: type,
      requestId,
      route,
      payload: payload.toString('utf8'),
      outcome: InvocationOutcome.Running,
      attempts: [],
    };
    this.invocations.push(invocation);
    return invocation;
  }
}

/**
 * Resolves with the handler's outcome, or with a timeout once `timeoutMs` passes.
 * NOTE: a timed-out handler keeps running in this process, because nothing can stop a promise. FC instead
 * freezes or kills the instance, so side effects after the timeout happen here but not in FC.
 */
async function runWithTimeout(run: () => Promise<unknown>, timeoutMs: number): Promise<AttemptResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<AttemptResult>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, timedOut: true, error: undefined }), timeoutMs);
  });
  const handled = Promise.resolve()
    .then(run)
    .then(
      (value): AttemptResult => ({ ok: true, value }),
      (error: unknown): AttemptResult => ({ ok: false, timedOut: false, error }),
    );

  try {
    return await Promise.race([handled, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function describeAttempt(result: AttemptResult, retryCount: number, accessKeyId: string): InvocationAttempt {
  if (result.ok) return { retryCount, outcome: 'succeeded', accessKeyId };
  if (result.timedOut) return { retryCount, outcome: 'timed-out', error: 'function timed out', accessKeyId };
  return { retryCount, outcome: 'failed', error: errorMessageOf(result.error), accessKeyId };
}

/** Converts a handler's result as the Node.js runtime does: Buffers raw, strings as text, other values as JSON. */
export function serialiseResult(value: unknown): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (value === undefined || value === null) return Buffer.alloc(0);
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  return Buffer.from(JSON.stringify(value), 'utf8');
}

function unhandledErrorBody(result: { timedOut: boolean; error: unknown }, timeoutSeconds: number): Buffer {
  if (result.timedOut) {
    return jsonBuffer({ errorMessage: `Function timed out after ${timeoutSeconds} seconds`, errorType: 'FunctionTimeout' });
  }
  const error = result.error;
  const errorType = error instanceof Error ? error.name : typeof error;
  const stackTrace = error instanceof Error && error.stack ? error.stack.split('\n').slice(1).map((line) => line.trim()) : [];
  return jsonBuffer({ errorMessage: errorMessageOf(error), errorType, stackTrace });
}

function errorMessageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function jsonBuffer(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}
