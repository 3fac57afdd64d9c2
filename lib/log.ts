/**
 * JSON logging: one line per event with `request_id` and `job_id`, secrets removed before anything is written.
 */

export const LogLevel = { debug: 10, info: 20, warn: 30, error: 40 } as const;
export type LogLevelName = keyof typeof LogLevel;

export type LogFields = Record<string, unknown>;

/** Destination of log lines. Tests replace it to capture every line a run writes. */
export type LogSink = (line: string) => void;

let sink: LogSink = (line) => process.stdout.write(`${line}\n`);

/** Sends every later log line to `next` and returns the previous sink. */
export function setLogSink(next: LogSink): LogSink {
  const previous = sink;
  sink = next;
  return previous;
}

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** Returns a logger that adds `fields` (such as `job_id`) to every line. */
  child(fields: LogFields): Logger;
}

/** Creates a logger that writes lines at `level` and above, each carrying `baseFields`. */
export function createLogger(level: LogLevelName = 'info', baseFields: LogFields = {}): Logger {
  const threshold = LogLevel[level];

  const write = (lineLevel: LogLevelName, message: string, fields: LogFields = {}): void => {
    if (LogLevel[lineLevel] < threshold) return;
    // The standard keys come last so that no field can overwrite them.
    const entry = { ...baseFields, ...fields, timestamp: new Date().toISOString(), level: lineLevel, message };
    sink(JSON.stringify(redact(entry)));
  };

  return {
    debug: (message, fields) => write('debug', message, fields),
    info: (message, fields) => write('info', message, fields),
    warn: (message, fields) => write('warn', message, fields),
    error: (message, fields) => write('error', message, fields),
    child: (fields) => createLogger(level, { ...baseFields, ...fields }),
  };
}

// Field names whose values are credentials in any casing: their values are replaced, whatever they hold.
const SECRET_FIELD = /secret|password|token|authorization|signature|auth_?key|credential/i;

// Query parameters that carry a signature or credential in a presigned OSS URL (V1 and V4) or an IMS
// request. Everything from the first such parameter up to the next `&` is masked.
const SIGNED_QUERY_PARAMETER =
  /([?&](?:Signature|OSSAccessKeyId|security-token|SecurityToken|x-oss-signature|x-oss-credential|x-oss-security-token|token|AccessKeyId)=)[^&\s"'<>]*/gi;

/** Masks URL signatures and credential values in any string. */
export function redactText(text: string): string {
  return text.replace(SIGNED_QUERY_PARAMETER, '$1***');
}

/**
 * Returns a copy of `value` that is safe to log: secret-named fields masked, signed query parameters masked
 * in every string, and errors turned into `{name, message, code, status, cause}`.
 */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 8) return '[nested too deep]';
  if (typeof value === 'string') return redactText(value);
  if (value instanceof Error) return redactError(value, depth);
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  if (value === null || typeof value !== 'object') return value;

  const copy: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    copy[key] = SECRET_FIELD.test(key) && field !== undefined && field !== '' ? '***' : redact(field, depth + 1);
  }
  return copy;
}

function redactError(error: Error, depth: number): Record<string, unknown> {
  const details = error as Error & { code?: unknown; status?: unknown; statusCode?: unknown; reason?: unknown };
  const serialised: Record<string, unknown> = { name: error.name, message: redactText(error.message) };
  if (details.code !== undefined) serialised.code = details.code;
  if (details.reason !== undefined) serialised.reason = details.reason;
  const status = details.statusCode ?? details.status;
  if (status !== undefined) serialised.status = status;
  if (error.cause !== undefined) serialised.cause = redact(error.cause, depth + 1);
  return serialised;
}
