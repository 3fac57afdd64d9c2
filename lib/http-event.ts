import { eventText, type FcHttpEvent, type FcHttpResponse } from './fc-types';
import { isValidJobId } from './job-id';

/** Largest callback body accepted, in bytes. IMS's envelopes are a few hundred bytes. */
export const MAX_CALLBACK_BODY_BYTES = 64 * 1024;

/** A request rejected before anything was written, with the HTTP status and the message for the caller. */
export class HttpRejection extends Error {
  readonly statusCode: number;

  constructor(statusCode: number, message: string) {
    super(message);
    this.name = 'HttpRejection';
    this.statusCode = statusCode;
  }
}

/** Parses the FC 3.0 HTTP event that `event` holds. */
export function parseHttpEvent(event: Buffer): FcHttpEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(eventText(event));
  } catch {
    throw new HttpRejection(400, 'the invocation is not an FC HTTP trigger event');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new HttpRejection(400, 'the invocation is not an FC HTTP trigger event');
  }

  const raw = parsed as Record<string, unknown>;
  return {
    version: scalarText(raw.version) ?? '',
    rawPath: scalarText(raw.rawPath) ?? '/',
    headers: stringRecord(raw.headers),
    queryParameters: stringRecord(raw.queryParameters),
    body: typeof raw.body === 'string' ? raw.body : '',
    isBase64Encoded: raw.isBase64Encoded === true,
    requestContext: raw.requestContext as FcHttpEvent['requestContext'],
  };
}

/** Returns the HTTP method of the event, upper-cased. */
export function httpMethod(event: FcHttpEvent): string {
  const method = event.requestContext?.http?.method;
  return typeof method === 'string' ? method.toUpperCase() : '';
}

/** Looks a header up by name in any case; FC re-cases names Go-style (`X-Ice-Signature`). */
export function headerOf(event: FcHttpEvent, name: string): string | undefined {
  const expected = name.toLowerCase();
  for (const [key, value] of Object.entries(event.headers)) {
    if (key.toLowerCase() === expected) return value;
  }
  return undefined;
}

/** Decodes the body (base64 when `isBase64Encoded` is set) and rejects one over `MAX_CALLBACK_BODY_BYTES`. */
export function bodyBytes(event: FcHttpEvent): Buffer {
  // A base64 text is 4/3 of its bytes, so a text this long cannot decode to an acceptable body.
  if (event.body.length > (MAX_CALLBACK_BODY_BYTES * 4) / 3 + 4) throw tooLarge();
  const bytes = event.isBase64Encoded ? Buffer.from(event.body, 'base64') : Buffer.from(event.body, 'utf8');
  if (bytes.length > MAX_CALLBACK_BODY_BYTES) throw tooLarge();
  return bytes;
}

/**
 * Reads the JobId from a callback body: IMS's envelope `{EventType, UserId, EventTime, MessageBody: {JobId}}`,
 * or a flat `{"JobId": ...}` / `{"jobId": ...}` from the customer's own systems.
 */
export function jobIdFromCallbackBody(bytes: Buffer): string {
  const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
  let body: unknown;
  try {
    body = JSON.parse(text.decode(bytes));
  } catch {
    throw new HttpRejection(400, 'the body is not UTF-8 JSON; expected {"JobId": "<JobId>"} or an IMS callback envelope');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new HttpRejection(400, 'the body is not a JSON object; expected {"JobId": "<JobId>"} or an IMS callback envelope');
  }

  const record = body as Record<string, unknown>;
  const messageBody = record.MessageBody;
  const candidate =
    messageBody !== null && typeof messageBody === 'object' && !Array.isArray(messageBody)
      ? (messageBody as Record<string, unknown>).JobId
      : (record.JobId ?? record.jobId);
  if (typeof candidate !== 'string' || candidate.trim() === '') {
    throw new HttpRejection(400, 'the body names no JobId; expected {"JobId": "<JobId>"} or MessageBody.JobId');
  }

  const jobId = candidate.trim();
  if (!isValidJobId(jobId)) {
    throw new HttpRejection(400, `JobId ${JSON.stringify(jobId.slice(0, 80))} is invalid: expected 1-64 letters, digits, "-", "_" or "*"`);
  }
  return jobId;
}

/** Builds a JSON response for the HTTP trigger. */
export function jsonResponse(statusCode: number, body: Record<string, unknown>, headers: Record<string, string> = {}): FcHttpResponse {
  return { statusCode, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

function tooLarge(): HttpRejection {
  return new HttpRejection(413, `the body is larger than ${MAX_CALLBACK_BODY_BYTES} bytes`);
}

/**
 * Keeps the string fields of a header or query map and joins lists of scalars with commas, as FC joins
 * repeated values. Anything else is dropped, because `String()` of a parsed object can throw
 * (`{"toString": 1}`) or overflow the stack (deeply nested arrays).
 */
function stringRecord(value: unknown): Record<string, string> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return {};
  const record: Record<string, string> = {};
  for (const [key, field] of Object.entries(value)) {
    if (typeof field === 'string') {
      record[key] = field;
      continue;
    }
    if (!Array.isArray(field)) continue;
    const items = field.map(scalarText);
    if (items.every((item) => item !== undefined)) record[key] = items.join(',');
  }
  return record;
}

/** Returns a string, number or boolean as text, and undefined for anything else. */
function scalarText(value: unknown): string | undefined {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : undefined;
}
