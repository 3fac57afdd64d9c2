/**
 * Property tests of the bundled callback handler (dist/callback/index.js) against the local cloud.
 *
 * The first property builds well-formed FC 3.0 HTTP events from descriptions of their parts (credentials,
 * method, body) and checks the exact status and problem each description calls for. The second sends
 * hostile events and raw bytes and checks only the invariants. The handler returns 200 or a 4xx with a JSON
 * `error`, never a 5xx or a throw, and a rejected request writes nothing to the bucket.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi, type MockInstance } from 'vitest';
import type { FcHttpResponse } from '../../lib/fc-types';
import { DESTINATION_BUCKET, startLocalCloud, type LocalCloud } from '../../local/cloud';
import { iceCallbackSignature } from '../../local/ims/callback';
import { loadBundledHandler, type CallbackHandler } from '../e2e/helpers';

const CALLBACK_URL = 'https://callback.example.com/ims/export?source=ims';
const MAX_SKEW_SECONDS = 300;
const MAX_BODY_BYTES = 64 * 1024;
const LEDGER_PREFIX = 'ims-exports/.state/';

/** A JobId the handler must accept: the same rule as lib/job-id.ts, written out independently. */
const PLAIN_JOB_ID = /^[A-Za-z0-9*_-]{1,64}$/;

/** Every 4xx message names one of these problems. */
const KNOWN_PROBLEMS = /FC HTTP trigger event|X-ICE-SIGNATURE|X-ICE-TIMESTAMP|callback token|authentication|method .* is not allowed|larger than|body|JobId/;

let cloud: LocalCloud;
let callback: CallbackHandler;
let stdoutSpy: MockInstance;
const logLines: string[] = [];

/** Secrets generated for this run, so that nothing resembling a real credential is stored in the repository. */
const secrets = {
  authKeys: [randomBytes(12).toString('hex'), randomBytes(12).toString('hex')] as const,
  token: randomBytes(16).toString('hex'),
};

/** Jobs the IMS emulator has: one that succeeds on its first read, one that stays Processing. */
const knownJobs = {
  succeeded: `succeeded${randomBytes(8).toString('hex')}`,
  processing: `processing${randomBytes(8).toString('hex')}`,
};

beforeAll(async () => {
  cloud = await startLocalCloud();
  delete process.env.WORKER_FUNCTION;
  Object.assign(
    process.env,
    cloud.env({
      LOG_LEVEL: 'warn',
      CALLBACK_AUTH_KEYS: secrets.authKeys.join(','),
      CALLBACK_URL,
      CALLBACK_TOKEN: secrets.token,
      CALLBACK_MAX_SKEW_SECONDS: String(MAX_SKEW_SECONDS),
    }),
  );
  cloud.ims.createJob({ jobId: knownJobs.succeeded, script: [{ status: 'Success' }] });
  cloud.ims.createJob({ jobId: knownJobs.processing, script: [{ status: 'Processing' }] });
  callback = loadBundledHandler('callback');

  // The handler logs JSON lines to standard output. They are kept for the secrets check instead of printed.
  stdoutSpy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    logLines.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  });
});

afterAll(async () => {
  stdoutSpy?.mockRestore();
  await cloud?.close();
});

// ---------------------------------------------------------------------------------------------------------
// Descriptions of the parts of a request, and what the handler must do with each.
// ---------------------------------------------------------------------------------------------------------

type Casing = 'lower' | 'upper' | 'canonical' | 'alternating';

type TimestampCase =
  | { kind: 'offset'; seconds: number }
  | { kind: 'literal'; value: string; verdict: 'invalid' | 'stale' }
  | { kind: 'milliseconds' }
  | { kind: 'zero-padded' }
  | { kind: 'duplicated' };

type SignatureCase =
  | { kind: 'valid'; key: 0 | 1; form: 'as-is' | 'upper-case' | 'padded' }
  | { kind: 'duplicated' }
  | { kind: 'wrong-key'; key: string }
  | { kind: 'wrong-url' }
  | { kind: 'truncated'; length: number }
  | { kind: 'extended'; extra: string }
  | { kind: 'literal'; value: string };

type TokenCase =
  | { kind: 'valid' }
  | { kind: 'wrong'; value: string }
  | { kind: 'padded' }
  | { kind: 'duplicated' }
  | { kind: 'prefix'; length: number }
  | { kind: 'upper-case' }
  | { kind: 'empty' };

/** Where a token travels: `query-misnamed` sends `Token=`, which the handler must not read. */
type TokenPlace = 'query' | 'header' | 'query-misnamed';

interface AuthCase {
  /** X-ICE-TIMESTAMP, absent when undefined. */
  timestamp?: TimestampCase;
  /** X-ICE-SIGNATURE, absent when undefined. */
  signature?: SignatureCase;
  token?: { value: TokenCase; place: TokenPlace };
  casing: Casing;
}

type BodyVerdict = { status: 200; jobId: string } | { status: 400 | 413; problem: RegExp };

interface BodyCase {
  label: string;
  bytes: Buffer;
  verdict: BodyVerdict;
}

interface RequestCase {
  auth: AuthCase;
  /** `undefined` leaves requestContext out of the event. */
  method: string | undefined;
  body: BodyCase;
  base64: boolean;
}

const casing = fc.constantFrom<Casing>('lower', 'upper', 'canonical', 'alternating');

function caseHeaderName(name: string, style: Casing): string {
  switch (style) {
    case 'lower':
      return name.toLowerCase();
    case 'upper':
      return name.toUpperCase();
    case 'canonical':
      return name
        .toLowerCase()
        .split('-')
        .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
        .join('-');
    case 'alternating':
      return [...name].map((char, index) => (index % 2 === 0 ? char.toLowerCase() : char.toUpperCase())).join('');
  }
}

const notUnixSeconds = fc.string({ maxLength: 20 }).filter((value) => !/^\d{1,12}$/.test(value));

const timestampCase: fc.Arbitrary<TimestampCase> = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: -(MAX_SKEW_SECONDS - 30), max: MAX_SKEW_SECONDS - 30 }).map((seconds) => ({ kind: 'offset' as const, seconds })) },
  { weight: 1, arbitrary: fc.integer({ min: MAX_SKEW_SECONDS + 30, max: 100_000_000 }).map((seconds) => ({ kind: 'offset' as const, seconds })) },
  { weight: 1, arbitrary: fc.integer({ min: MAX_SKEW_SECONDS + 30, max: 100_000_000 }).map((seconds) => ({ kind: 'offset' as const, seconds: -seconds })) },
  { weight: 1, arbitrary: notUnixSeconds.map((value) => ({ kind: 'literal' as const, value, verdict: 'invalid' as const })) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      { kind: 'literal' as const, value: '999999999999', verdict: 'stale' as const },
      { kind: 'literal' as const, value: '0', verdict: 'stale' as const },
      { kind: 'literal' as const, value: '-1700000000', verdict: 'invalid' as const },
      { kind: 'literal' as const, value: '1.7e9', verdict: 'invalid' as const },
      { kind: 'literal' as const, value: '١٧٠٠٠٠٠٠٠٠', verdict: 'invalid' as const },
      { kind: 'milliseconds' as const },
      { kind: 'zero-padded' as const },
      { kind: 'duplicated' as const },
    ),
  },
);

const signatureCase: fc.Arbitrary<SignatureCase> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('valid' as const),
      key: fc.constantFrom<0 | 1>(0, 1),
      form: fc.constantFrom<'as-is' | 'upper-case' | 'padded'>('as-is', 'upper-case', 'padded'),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'duplicated' as const }) },
  { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 40 }).map((key) => ({ kind: 'wrong-key' as const, key: `not-configured-${key}` })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'wrong-url' as const }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 31 }).map((length) => ({ kind: 'truncated' as const, length })) },
  { weight: 1, arbitrary: fc.stringMatching(/^[0-9a-f]{1,32}$/).map((extra) => ({ kind: 'extended' as const, extra })) },
  { weight: 1, arbitrary: fc.string({ maxLength: 64 }).map((value) => ({ kind: 'literal' as const, value })) },
);

const tokenCase: fc.Arbitrary<TokenCase> = fc.oneof(
  { weight: 5, arbitrary: fc.constant({ kind: 'valid' as const }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 64 }).map((value) => ({ kind: 'wrong' as const, value: `x${value}` })) },
  {
    weight: 2,
    arbitrary: fc.constantFrom<TokenCase>({ kind: 'padded' }, { kind: 'duplicated' }, { kind: 'upper-case' }, { kind: 'empty' }),
  },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 31 }).map((length) => ({ kind: 'prefix' as const, length })) },
);

const tokenPlace = fc.constantFrom<TokenPlace>('query', 'header', 'query-misnamed');

/** Credentials that must pass, so that enough requests go on to the method and body checks. */
const validAuthCase: fc.Arbitrary<AuthCase> = fc.oneof(
  fc.record({
    timestamp: fc.integer({ min: -(MAX_SKEW_SECONDS - 30), max: MAX_SKEW_SECONDS - 30 }).map((seconds) => ({ kind: 'offset' as const, seconds })),
    signature: fc.record({
      kind: fc.constant('valid' as const),
      key: fc.constantFrom<0 | 1>(0, 1),
      form: fc.constantFrom<'as-is' | 'upper-case' | 'padded'>('as-is', 'upper-case', 'padded'),
    }),
    casing,
  }),
  fc.record({ token: fc.record({ value: fc.constant({ kind: 'valid' as const }), place: fc.constantFrom<TokenPlace>('query', 'header') }), casing }),
);

const anyAuthCase: fc.Arbitrary<AuthCase> = fc.oneof(
  // IMS's signature, sometimes alongside a token that must then be ignored.
  {
    weight: 4,
    arbitrary: fc.record(
      { timestamp: timestampCase, signature: signatureCase, token: fc.record({ value: tokenCase, place: tokenPlace }), casing },
      { requiredKeys: ['timestamp', 'signature', 'casing'] },
    ),
  },
  // A token alone, or with half of a signature (which alone is not a credential).
  {
    weight: 4,
    arbitrary: fc.record(
      { timestamp: timestampCase, token: fc.record({ value: tokenCase, place: tokenPlace }), casing },
      { requiredKeys: ['token', 'casing'] },
    ),
  },
  { weight: 1, arbitrary: fc.record({ signature: signatureCase, casing }, { requiredKeys: ['casing'] }) },
);

const authCase = fc.oneof({ weight: 3, arbitrary: validAuthCase }, { weight: 2, arbitrary: anyAuthCase });

const method = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('POST', 'post', 'Post') },
  { weight: 2, arbitrary: fc.constantFrom('GET', 'PUT', 'DELETE', 'OPTIONS', 'HEAD', 'PATCH', '', 'POST ', 'P0ST') },
  { weight: 1, arbitrary: fc.constant(undefined) },
);

// ---------------------------------------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------------------------------------

const plainJobId = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(PLAIN_JOB_ID) },
  { weight: 1, arbitrary: fc.constantFrom(knownJobs.succeeded, knownJobs.processing) },
);

const INVALID_JOB_ID = /JobId .* is invalid/;
const NO_JOB_ID = /names no JobId/;
const NOT_JSON = /not UTF-8 JSON/;
const NOT_OBJECT = /not a JSON object/;
const TOO_LARGE = new RegExp(`larger than ${MAX_BODY_BYTES} bytes`);

/** JobIds that must never reach an object key: separators, dot segments, control characters, unicode. */
const hostileJobId = fc.oneof(
  fc.constantFrom(
    '../outside',
    'a/b',
    '..',
    '.',
    'job.json',
    '/leading',
    'a\\b',
    'a\u0000b',
    'a\nb',
    'a\u001fb',
    'a\u007fb',
    'a b',
    '%2e%2e',
    'é',
    '工作',
    '😀',
    '\u202eabc',
    'a'.repeat(65),
  ),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 80 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 80 }),
).filter((value) => value.trim() !== '' && !PLAIN_JOB_ID.test(value.trim()));

function jsonBody(value: unknown, label: string, verdict: BodyVerdict): BodyCase {
  return { label, bytes: Buffer.from(JSON.stringify(value), 'utf8'), verdict };
}

function accepted(jobId: string): BodyVerdict {
  return { status: 200, jobId };
}

function rejected(status: 400 | 413, problem: RegExp): BodyVerdict {
  return { status, problem };
}

/** Builds a flat body padded with a string field to exactly `size` bytes. */
function paddedBody(jobId: string, size: number): Buffer {
  const empty = Buffer.byteLength(JSON.stringify({ JobId: jobId, padding: '' }));
  return Buffer.from(JSON.stringify({ JobId: jobId, padding: 'p'.repeat(size - empty) }), 'utf8');
}

/** Builds a flat body whose `nested` field is `depth` arrays deep. */
function nestedBody(jobId: string, depth: number): Buffer {
  return Buffer.from(`{"JobId":${JSON.stringify(jobId)},"nested":${'['.repeat(depth)}${']'.repeat(depth)}}`, 'utf8');
}

/** Byte sequences that no UTF-8 decoder may accept: a stray continuation, an overlong form, a surrogate. */
const invalidUtf8 = fc.constantFrom([0xff], [0x80], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]);

function isUtf8(bytes: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

const bodyCase: fc.Arbitrary<BodyCase> = fc.oneof(
  {
    weight: 3,
    arbitrary: plainJobId.map((jobId) =>
      jsonBody({ EventType: 'ProjectExportComplete', UserId: '1', EventTime: '2024-01-01T00:00:00Z', MessageBody: { JobId: jobId } }, 'envelope', accepted(jobId)),
    ),
  },
  { weight: 2, arbitrary: plainJobId.map((jobId) => jsonBody({ JobId: jobId }, 'flat JobId', accepted(jobId))) },
  { weight: 1, arbitrary: plainJobId.map((jobId) => jsonBody({ jobId }, 'flat jobId', accepted(jobId))) },
  { weight: 1, arbitrary: plainJobId.map((jobId) => jsonBody({ JobId: ` \t${jobId}\n` }, 'padded JobId', accepted(jobId))) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(plainJobId, fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.array(fc.string())))
      .map(([jobId, messageBody]) => jsonBody({ MessageBody: messageBody, JobId: jobId }, 'MessageBody not an object', accepted(jobId))),
  },
  {
    weight: 1,
    arbitrary: plainJobId.map((jobId) => jsonBody({ MessageBody: { Other: jobId }, JobId: jobId }, 'MessageBody without JobId', rejected(400, NO_JOB_ID))),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(hostileJobId, fc.boolean())
      .map(([jobId, envelope]) => jsonBody(envelope ? { MessageBody: { JobId: jobId } } : { JobId: jobId }, 'hostile JobId', rejected(400, INVALID_JOB_ID))),
  },
  {
    weight: 1,
    arbitrary: fc
      .oneof(fc.constantFrom('', '  ', '\t\n'), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string()), fc.dictionary(fc.string(), fc.string()))
      .map((jobId) => jsonBody({ JobId: jobId }, 'JobId not a string', rejected(400, NO_JOB_ID))),
  },
  {
    weight: 1,
    arbitrary: fc
      .jsonValue()
      .filter((value) => value === null || typeof value !== 'object' || Array.isArray(value))
      .map((value) => jsonBody(value, 'JSON but not an object', rejected(400, NOT_OBJECT))),
  },
  {
    weight: 1,
    arbitrary: fc
      .string({ maxLength: 200 })
      .filter((text) => {
        try {
          JSON.parse(text);
          return false;
        } catch {
          return true;
        }
      })
      .map((text) => ({ label: 'not JSON', bytes: Buffer.from(text, 'utf8'), verdict: rejected(400, NOT_JSON) })),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(plainJobId, invalidUtf8).map(([jobId, bad]) => ({
      label: 'JSON with bytes that are not UTF-8',
      bytes: Buffer.concat([Buffer.from(`{"JobId":${JSON.stringify(jobId)},"note":"a`), Buffer.from(bad), Buffer.from('"}')]),
      verdict: rejected(400, NOT_JSON),
    })),
  },
  {
    weight: 1,
    arbitrary: fc
      .uint8Array({ minLength: 1, maxLength: 300 })
      .map((array) => Buffer.from(array))
      .filter((bytes) => !isUtf8(bytes))
      .map((bytes) => ({ label: 'random bytes', bytes, verdict: rejected(400, NOT_JSON) })),
  },
  {
    weight: 1,
    arbitrary: plainJobId.map((jobId) => ({
      label: 'JSON after a byte order mark',
      bytes: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify({ JobId: jobId }))]),
      verdict: accepted(jobId),
    })),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(plainJobId, fc.integer({ min: 1_000, max: 30_000 })).map(([jobId, depth]) => ({
      label: `JSON ${depth} arrays deep`,
      bytes: nestedBody(jobId, depth),
      verdict: accepted(jobId),
    })),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(plainJobId, fc.integer({ min: 40_000, max: 500_000 })).map(([jobId, depth]) => ({
      label: `JSON ${depth} arrays deep`,
      bytes: nestedBody(jobId, depth),
      verdict: rejected(413, TOO_LARGE),
    })),
  },
  {
    weight: 1,
    arbitrary: plainJobId.map((jobId) => ({ label: 'body of exactly the maximum size', bytes: paddedBody(jobId, MAX_BODY_BYTES), verdict: accepted(jobId) })),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(plainJobId, fc.integer({ min: MAX_BODY_BYTES + 1, max: 4 * MAX_BODY_BYTES })).map(([jobId, size]) => ({
      label: `body of ${size} bytes`,
      bytes: paddedBody(jobId, size),
      verdict: rejected(413, TOO_LARGE),
    })),
  },
  { weight: 1, arbitrary: fc.constant({ label: 'empty body', bytes: Buffer.alloc(0), verdict: rejected(400, NOT_JSON) }) },
);

const requestCase: fc.Arbitrary<RequestCase> = fc.record({ auth: authCase, method, body: bodyCase, base64: fc.boolean() });

// ---------------------------------------------------------------------------------------------------------
// Building the event and the expected response
// ---------------------------------------------------------------------------------------------------------

function timestampValue(timestamp: TimestampCase, nowSeconds: number): string {
  switch (timestamp.kind) {
    case 'offset':
      return String(nowSeconds + timestamp.seconds);
    case 'literal':
      return timestamp.value;
    case 'milliseconds':
      return String(nowSeconds * 1000);
    case 'zero-padded':
      return `00${nowSeconds}`;
    case 'duplicated':
      // FC joins a repeated header's values with commas.
      return `${nowSeconds},${nowSeconds}`;
  }
}

function timestampVerdict(timestamp: TimestampCase): 'fresh' | 'stale' | 'invalid' {
  switch (timestamp.kind) {
    case 'offset':
      return Math.abs(timestamp.seconds) <= MAX_SKEW_SECONDS ? 'fresh' : 'stale';
    case 'literal':
      return timestamp.verdict;
    case 'milliseconds':
    case 'duplicated':
      return 'invalid';
    case 'zero-padded':
      return 'fresh';
  }
}

function signatureValue(signature: SignatureCase, timestamp: string): string {
  const valid = (key: string): string => iceCallbackSignature(CALLBACK_URL, timestamp, key);
  switch (signature.kind) {
    case 'valid': {
      const value = valid(secrets.authKeys[signature.key]);
      if (signature.form === 'upper-case') return value.toUpperCase();
      if (signature.form === 'padded') return ` ${value} `;
      return value;
    }
    case 'duplicated':
      return `${valid(secrets.authKeys[0])},${valid(secrets.authKeys[0])}`;
    case 'wrong-key':
      return valid(signature.key);
    case 'wrong-url':
      return iceCallbackSignature('https://callback.example.com/other', timestamp, secrets.authKeys[0]);
    case 'truncated':
      return valid(secrets.authKeys[0]).slice(0, signature.length);
    case 'extended':
      return valid(secrets.authKeys[0]) + signature.extra;
    case 'literal':
      return signature.value;
  }
}

function tokenValue(token: TokenCase): string {
  switch (token.kind) {
    case 'valid':
      return secrets.token;
    case 'wrong':
      return token.value;
    case 'padded':
      return `${secrets.token} `;
    case 'duplicated':
      return `${secrets.token},${secrets.token}`;
    case 'prefix':
      return secrets.token.slice(0, token.length);
    case 'upper-case':
      return secrets.token.toUpperCase();
    case 'empty':
      return '';
  }
}

/** The 401 message each failure must carry, or `ok`. Mirrors the documented order: signature, then token. */
function authVerdict(auth: AuthCase): 'ok' | RegExp {
  if (auth.timestamp !== undefined && auth.signature !== undefined) {
    const timestamp = timestampVerdict(auth.timestamp);
    if (timestamp === 'invalid') return /X-ICE-TIMESTAMP is not a Unix time/;
    if (timestamp === 'stale') return /X-ICE-TIMESTAMP is outside the accepted clock skew/;
    return auth.signature.kind === 'valid' ? 'ok' : /X-ICE-SIGNATURE does not match/;
  }
  if (auth.token !== undefined && auth.token.place !== 'query-misnamed') {
    return auth.token.value.kind === 'valid' ? 'ok' : /callback token does not match/;
  }
  return /neither X-ICE-SIGNATURE with X-ICE-TIMESTAMP nor a callback token/;
}

function expectedResponse(request: RequestCase): { status: number; problem?: RegExp; jobId?: string } {
  const auth = authVerdict(request.auth);
  if (auth !== 'ok') return { status: 401, problem: auth };
  if (request.method?.toUpperCase() !== 'POST') return { status: 405, problem: /method .* is not allowed; use POST/ };
  const verdict = request.body.verdict;
  return verdict.status === 200 ? { status: 200, jobId: verdict.jobId } : { status: verdict.status, problem: verdict.problem };
}

function buildEvent(request: RequestCase, nowSeconds: number): Record<string, unknown> {
  const { auth } = request;
  const headers: Record<string, string> = { 'Content-Type': 'application/json', 'User-Agent': 'property-test' };
  const queryParameters: Record<string, string> = {};

  const timestamp = auth.timestamp === undefined ? String(nowSeconds) : timestampValue(auth.timestamp, nowSeconds);
  if (auth.timestamp !== undefined) headers[caseHeaderName('X-ICE-TIMESTAMP', auth.casing)] = timestamp;
  if (auth.signature !== undefined) headers[caseHeaderName('X-ICE-SIGNATURE', auth.casing)] = signatureValue(auth.signature, timestamp);
  if (auth.token !== undefined) {
    const value = tokenValue(auth.token.value);
    if (auth.token.place === 'query') queryParameters.token = value;
    if (auth.token.place === 'query-misnamed') queryParameters.Token = value;
    if (auth.token.place === 'header') headers[caseHeaderName('X-Callback-Token', auth.casing)] = value;
  }

  const event: Record<string, unknown> = {
    version: 'v1',
    rawPath: '/ims/export',
    headers,
    queryParameters,
    body: request.base64 || !isUtf8(request.body.bytes) ? request.body.bytes.toString('base64') : request.body.bytes.toString('utf8'),
    isBase64Encoded: request.base64 || !isUtf8(request.body.bytes),
  };
  if (request.method !== undefined) {
    event.requestContext = {
      accountId: cloud.accountId,
      domainName: 'callback.example.com',
      domainPrefix: 'callback',
      requestId: 'property-test',
      time: new Date(nowSeconds * 1000).toISOString(),
      timeEpoch: String(nowSeconds * 1000),
      http: { method: request.method, path: '/ims/export', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'property-test' },
    };
  }
  return event;
}

// ---------------------------------------------------------------------------------------------------------
// Running the handler and reading the bucket
// ---------------------------------------------------------------------------------------------------------

/** Lists every object in the destination bucket with its ETag, so that an overwrite shows up as a change. */
function bucketSnapshot(): string[] {
  return cloud.oss.listKeys(DESTINATION_BUCKET).map((key) => `${key} ${cloud.oss.getObjectDirect(DESTINATION_BUCKET, key)?.etag ?? ''}`);
}

function errorMessage(response: FcHttpResponse): string | undefined {
  const body = JSON.parse(response.body) as { error?: unknown };
  return typeof body.error === 'string' ? body.error : undefined;
}

/** Runs the handler and returns a throw as a value, so that the property can report it. */
async function invoke(event: Buffer): Promise<FcHttpResponse | { thrown: unknown }> {
  try {
    return await callback(event, cloud.context('ims-export-sync-callback'));
  } catch (error) {
    return { thrown: error };
  }
}

function isResponse(result: FcHttpResponse | { thrown: unknown }): result is FcHttpResponse {
  return !('thrown' in result);
}

/**
 * Returns true once the job is in the ledger or already has its manifest. Most generated JobIds are unknown
 * to IMS. NOTE: the callback still accepts them with 200, syncs them inline to an `error` outcome and
 * leaves them in the ledger until JOB_MAX_AGE_HOURS, because a callback is only a hint.
 */
function jobWasRecorded(jobId: string): boolean {
  const inLedger = cloud.oss.getObjectDirect(DESTINATION_BUCKET, `${LEDGER_PREFIX}jobs/${jobId}.json`) !== undefined;
  const synced = cloud.oss.getObjectDirect(DESTINATION_BUCKET, `ims-exports/${jobId}/manifest.json`) !== undefined;
  return inLedger || synced;
}

describe('callback handler', () => {
  it('returns the status each request calls for', async () => {
    await fc.assert(
      fc.asyncProperty(requestCase, async (request) => {
        const expected = expectedResponse(request);
        const before = bucketSnapshot();
        const imsCallsBefore = cloud.ims.requests.count();

        const event = buildEvent(request, Math.floor(Date.now() / 1000));
        const result = await invoke(Buffer.from(JSON.stringify(event)));

        expect(isResponse(result) ? undefined : result.thrown).toBeUndefined();
        const response = result as FcHttpResponse;
        expect(response.statusCode).toBe(expected.status);
        expect(response.headers?.['content-type']).toBe('application/json');

        if (expected.status === 200) {
          expect(JSON.parse(response.body)).toMatchObject({ accepted: true, jobId: expected.jobId });
          expect(jobWasRecorded(expected.jobId!)).toBe(true);
          return;
        }
        expect(errorMessage(response)).toMatch(expected.problem!);
        if (expected.status === 405) expect(response.headers?.allow).toBe('POST');
        expect(bucketSnapshot()).toEqual(before);
        expect(cloud.ims.requests.count()).toBe(imsCallsBefore);
      }),
      { numRuns: 300 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------
// Hostile events: wrong shapes, wrong types, prototype keys, case-variant headers, deep nesting, raw bytes
// ---------------------------------------------------------------------------------------------------------

/** Keys that trip up code which treats parsed JSON as a plain record. */
const PROTOTYPE_KEYS = ['__proto__', 'toString', 'valueOf', 'constructor', 'hasOwnProperty', 'toJSON'];

const hostileKey = fc.oneof(
  fc.constantFrom(...PROTOTYPE_KEYS, 'X-Ice-Signature', 'x-ice-timestamp', 'X-CALLBACK-TOKEN', 'token', 'http', 'method', 'JobId'),
  fc.string({ maxLength: 12 }),
);

const { hostileValue } = fc.letrec((tie) => ({
  hostileValue: fc.oneof(
    { depthSize: 'small' },
    fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null)),
    fc.array(tie('hostileValue'), { maxLength: 4 }),
    fc.dictionary(hostileKey, tie('hostileValue'), { maxKeys: 4 }),
  ),
}));

/** Builds an event that passes authentication and names a plain JobId, for damaging one field at a time. */
function acceptableEvent(): Record<string, unknown> {
  return {
    version: 'v1',
    rawPath: '/ims/export',
    headers: { 'Content-Type': 'application/json' },
    queryParameters: { token: secrets.token },
    body: JSON.stringify({ JobId: 'hostile-event-job' }),
    isBase64Encoded: false,
    requestContext: { http: { method: 'POST', path: '/ims/export' } },
  };
}

const EVENT_FIELDS = ['version', 'rawPath', 'headers', 'queryParameters', 'body', 'isBase64Encoded', 'requestContext'] as const;

/** Text of an acceptable event with `field` replaced by `valueText`, which may be any JSON text. */
function eventWithField(field: string, valueText: string): string {
  const { [field]: _replaced, ...rest } = acceptableEvent();
  return `${JSON.stringify(rest).slice(0, -1)},${JSON.stringify(field)}:${valueText}}`;
}

function deepArrays(depth: number): string {
  return `${'['.repeat(depth)}"x"${']'.repeat(depth)}`;
}

function deepObjects(depth: number): string {
  return `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

/** An object whose conversion to a string fails, as `String(value)` does when toString is not a function. */
const UNPRINTABLE = '{"toString":1,"valueOf":1}';

const hostileEventText: fc.Arbitrary<{ label: string; text: string }> = fc.oneof(
  fc.tuple(fc.constantFrom(...EVENT_FIELDS), hostileValue).map(([field, value]) => ({
    label: `${field} replaced`,
    text: eventWithField(field, JSON.stringify(value)),
  })),
  fc.constantFrom(...EVENT_FIELDS).map((field) => ({ label: `${field} unprintable`, text: eventWithField(field, UNPRINTABLE) })),
  fc.constantFrom('headers', 'queryParameters').chain((field) =>
    fc.constantFrom('X-Ice-Signature', 'X-Ice-Timestamp', 'X-Callback-Token', 'token').map((name) => ({
      label: `${field}.${name} holds an unprintable list`,
      text: eventWithField(field, `{${JSON.stringify(name)}:[${UNPRINTABLE}]}`),
    })),
  ),
  fc.tuple(fc.constantFrom(...EVENT_FIELDS), fc.integer({ min: 1_000, max: 200_000 }), fc.boolean()).map(([field, depth, arrays]) => ({
    label: `${field} ${depth} levels deep`,
    text: eventWithField(field, arrays ? deepArrays(depth) : deepObjects(depth)),
  })),
  fc.tuple(fc.constantFrom('headers', 'queryParameters'), fc.constantFrom('X-Callback-Token', 'token', 'X-Ice-Signature'), fc.integer({ min: 1_000, max: 200_000 })).map(
    ([field, name, depth]) => ({
      label: `${field}.${name} ${depth} arrays deep`,
      text: eventWithField(field, `{${JSON.stringify(name)}:${deepArrays(depth)}}`),
    }),
  ),
  // The same header under two casings, which FC never sends but a hand-built event can.
  fc.tuple(casing, casing, fc.string({ maxLength: 40 })).map(([first, second, other]) => ({
    label: 'token header under two casings',
    text: eventWithField(
      'headers',
      JSON.stringify({ [caseHeaderName('X-Callback-Token', first)]: other, [caseHeaderName('X-Callback-Token', second)]: secrets.token }),
    ),
  })),
  fc.constantFrom(...PROTOTYPE_KEYS).map((key) => ({
    label: `${key} key in the headers`,
    text: eventWithField('headers', `{${JSON.stringify(key)}:{"X-Callback-Token":${JSON.stringify(secrets.token)}}}`),
  })),
  fc.integer({ min: MAX_BODY_BYTES, max: 4 * 1024 * 1024 }).map((size) => ({
    label: `body of ${size} characters`,
    text: eventWithField('body', JSON.stringify('b'.repeat(size))),
  })),
  fc.jsonValue({ maxDepth: 4 }).map((value) => ({ label: 'JSON value', text: JSON.stringify(value) })),
  fc.string({ maxLength: 200 }).map((text) => ({ label: 'text', text })),
);

interface HostileEvent {
  label: string;
  bytes: Buffer;
}

/** Prints a counterexample as its label and the start of its text, not as a list of byte values. */
function described(event: HostileEvent): HostileEvent {
  return Object.assign(event, { [fc.toStringMethod]: () => `${event.label}: ${event.bytes.toString('utf8', 0, 300)}` });
}

const hostileEvent: fc.Arbitrary<HostileEvent> = fc.oneof(
  { weight: 4, arbitrary: hostileEventText.map(({ label, text }) => ({ label, bytes: Buffer.from(text, 'utf8') })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 400 }).map((array) => ({ label: 'random bytes', bytes: Buffer.from(array) })) },
  {
    weight: 1,
    arbitrary: invalidUtf8.map((bad) => ({
      label: 'event with bytes that are not UTF-8',
      bytes: Buffer.concat([Buffer.from(eventWithField('body', '"{\\"JobId\\":\\"a').slice(0, -1)), Buffer.from(bad), Buffer.from('\\"}"}')]),
    })),
  },
);

describe('callback handler with hostile events', () => {
  it('returns 200 or a 4xx naming the problem', async () => {
    await fc.assert(
      fc.asyncProperty(hostileEvent.map(described), async ({ bytes }) => {
        const before = bucketSnapshot();

        const result = await invoke(bytes);

        expect(isResponse(result) ? undefined : String((result as { thrown: unknown }).thrown)).toBeUndefined();
        const response = result as FcHttpResponse;
        expect([200, 400, 401, 405, 413]).toContain(response.statusCode);
        expect(response.headers?.['content-type']).toBe('application/json');
        if (response.statusCode === 200) {
          expect(JSON.parse(response.body)).toMatchObject({ accepted: true });
          return;
        }
        expect(errorMessage(response)).toMatch(KNOWN_PROBLEMS);
        expect(bucketSnapshot()).toEqual(before);
      }),
      { numRuns: 300 },
    );
  });
});

describe('callback logs', () => {
  it('omit the token and the AuthKeys', () => {
    const logged = logLines.join('');

    expect(logLines.length).toBeGreaterThan(0);
    expect(logged).not.toContain(secrets.token);
    expect(logged).not.toContain(secrets.authKeys[0]);
    expect(logged).not.toContain(secrets.authKeys[1]);
  });
});
