/** The parts of a request an emulator matches fault rules against. */
export interface RequestInfo {
  method: string;
  /** Path of the request URL, still percent-encoded. */
  path: string;
  query: URLSearchParams;
  /** Header names in lower case. */
  headers: Record<string, string | string[] | undefined>;
  /** Name of the API operation, such as `PutObject`, `GetProjectExportJob` or `InvokeFunction`. */
  operation: string;
}

/**
 * A fault that an emulator injects into a request instead of, or on top of, its normal response.
 * Each emulator renders `error` and `throttle` in its own service's format.
 */
export type Fault =
  /** Waits before handling the request normally. */
  | { kind: 'delay'; ms: number }
  /** Destroys the connection after `afterBytes` bytes of the request body were read or of the response body were sent. */
  | { kind: 'drop'; afterBytes: number; stage?: 'request-body' | 'response-body' }
  /** Responds with `status` and the service's error body; `html` sends an HTML page, as a gateway's 502 does. */
  | { kind: 'error'; status: number; code?: string; message?: string; html?: boolean }
  /** Responds with the service's throttling error. */
  | { kind: 'throttle' }
  /** Sends a body whose bytes differ from the stored ones (or a wrong checksum header), to test integrity checks. */
  | { kind: 'corrupt' }
  /** Sends only the first `afterBytes` bytes of the response body and then ends the response cleanly. */
  | { kind: 'truncate'; afterBytes: number };

export interface FaultRule {
  fault: Fault;
  /** Requests the rule still applies to; it is removed when this reaches 0. */
  remaining: number;
  match: (request: RequestInfo) => boolean;
}

export interface AddFaultOptions {
  /** How many matching requests get the fault. Default 1. */
  times?: number;
  /** Predicate selecting the requests the fault applies to. Default: every request. */
  match?: (request: RequestInfo) => boolean;
}

/**
 * Fault switches of one emulator: rules that apply to the next N matching requests, in the order added.
 *
 * @example
 * oss.faults.add({ kind: 'error', status: 503 }, { times: 2, match: (r) => r.operation === 'UploadPart' });
 */
export class FaultInjector {
  readonly #rules: FaultRule[] = [];

  add(fault: Fault, options: AddFaultOptions = {}): void {
    this.#rules.push({ fault, remaining: options.times ?? 1, match: options.match ?? (() => true) });
  }

  /** Returns the fault for this request, if a rule matches, and counts the request against that rule. */
  take(request: RequestInfo): Fault | undefined {
    const index = this.#rules.findIndex((rule) => rule.match(request));
    if (index === -1) return undefined;

    const rule = this.#rules[index]!;
    rule.remaining -= 1;
    if (rule.remaining <= 0) this.#rules.splice(index, 1);
    return rule.fault;
  }

  /** Number of fault injections still pending. */
  get pending(): number {
    return this.#rules.reduce((sum, rule) => sum + rule.remaining, 0);
  }

  clear(): void {
    this.#rules.length = 0;
  }
}
