import { z } from 'zod';
import { ConfigError } from './errors';
import type { LogLevelName } from './log';

/** Settings of every function, read once from environment variables. */
export interface Config {
  ossBucket: string;
  /** Region in ali-oss form, such as `oss-cn-shanghai`. */
  ossRegion: string;
  /** Endpoint override as ali-oss takes it (`http://127.0.0.1:9000` or a host); undefined means derived. */
  ossEndpoint: string | undefined;
  /** True inside Function Compute when no endpoint is set: the bucket is reached over the internal endpoint. */
  ossInternal: boolean;
  outputPrefix: string;
  statePrefix: string;
  imsRegion: string;
  /** IMS endpoint, split into what `@alicloud/openapi-client` takes: a host (with port) and a protocol. */
  imsEndpoint: { host: string; protocol: 'https' | 'http' };
  callbackAuthKeys: readonly string[];
  callbackUrl: string | undefined;
  callbackToken: string | undefined;
  /** True only when `CALLBACK_AUTH=off` was set on purpose. */
  callbackAuthDisabled: boolean;
  callbackMaxSkewSeconds: number;
  workerFunction: string | undefined;
  fcEndpoint: string | undefined;
  /** Host patterns a `ProjectUrl` may point at; `*.` matches any subdomain. */
  sourceHosts: readonly string[];
  jobMaxAgeHours: number;
  /** Length of one job lease window in seconds; a crashed run blocks its job for at most two windows. */
  jobLeaseSeconds: number;
  /** Read and connect timeout of one IMS request, in seconds. */
  imsTimeoutSeconds: number;
  logLevel: LogLevelName;
}

/** Values from the runtime that settings default to. */
export interface RuntimeFacts {
  /** Region the function runs in (`context.region` in FC), such as `cn-shanghai`. */
  region?: string;
  /** True when running inside Function Compute. */
  insideFunctionCompute?: boolean;
}

type Environment = Record<string, string | undefined>;

const SECRET_VARIABLES = new Set(['CALLBACK_AUTH_KEYS', 'CALLBACK_TOKEN']);

const REGION = /^[a-z]{2,}(-[a-z0-9]+)+$/;
const BUCKET = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;
const HOST_PATTERN = /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;
const FUNCTION_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,127}$/;

/** One setting: how to read it and what a valid value looks like, for the error message. */
interface Setting<T> {
  schema: z.ZodType<T>;
  expected: string;
}

const prefix = (example: string): Setting<string> => ({
  schema: z
    .string()
    .refine((value) => value === '' || value.endsWith('/'), 'must end with "/"')
    .refine((value) => !value.startsWith('/'), 'must not start with "/"')
    .refine((value) => !value.split('/').some((part) => part === '.' || part === '..'), 'must not contain "." or ".." segments'),
  expected: `an object key prefix ending in "/", such as "${example}"`,
});

/**
 * A decimal number such as `300`, `2.5` or `-1`, the sign kept so that a negative value is reported as out of range.
 * Exponents, hex prefixes, digit separators, a plus sign and a bare dot are rejected.
 */
const DECIMAL_NUMBER = /^-?\d+(\.\d+)?$/;

interface NumberRange {
  /** Lowest valid value, itself valid unless `minExclusive` is set. */
  min: number;
  minExclusive?: boolean;
  max: number;
  /** Unit named in the error message, such as "seconds". */
  unit: string;
  example: number;
}

/** Builds a number setting that accepts only decimals within a range, so that a typo such as `1e12` cannot reach a timer. */
const boundedNumber = ({ min, minExclusive = false, max, unit, example }: NumberRange): Setting<number> => ({
  schema: z.string().transform((text, context) => {
    if (!DECIMAL_NUMBER.test(text)) {
      context.addIssue({ code: 'custom', message: 'is not a plain decimal number' });
      return z.NEVER;
    }
    const value = Number(text);
    if (minExclusive ? value <= min : value < min) {
      context.addIssue({ code: 'custom', message: minExclusive ? `is not greater than ${min}` : `is less than ${min}` });
      return z.NEVER;
    }
    if (value > max) {
      context.addIssue({ code: 'custom', message: `is greater than ${max}` });
      return z.NEVER;
    }
    return value;
  }),
  expected: `a decimal number of ${unit} ${minExclusive ? `greater than ${min} and at most ${max}` : `from ${min} to ${max}`}, such as ${example}`,
});

const SETTINGS = {
  OSS_BUCKET: {
    schema: z.string().regex(BUCKET, 'is not a valid bucket name'),
    expected: 'the destination bucket name: 3-63 lower-case letters, digits and hyphens',
  },
  OSS_REGION: {
    schema: z.string().regex(/^oss-[a-z0-9-]+$/, 'is not in ali-oss form'),
    expected: 'an OSS region in ali-oss form, such as oss-cn-shanghai',
  },
  OSS_ENDPOINT: { schema: endpointSchema(), expected: 'a host, or a URL with scheme and port such as http://127.0.0.1:9000' },
  OUTPUT_PREFIX: prefix('ims-exports/'),
  STATE_PREFIX: prefix('ims-exports/.state/'),
  IMS_REGION: { schema: z.string().regex(REGION, 'is not a region ID'), expected: 'a region ID such as cn-shanghai' },
  IMS_ENDPOINT: { schema: endpointSchema(), expected: 'a host such as ice-vpc.cn-shanghai.aliyuncs.com, or a URL with scheme and port' },
  CALLBACK_AUTH_KEYS: {
    schema: z
      .string()
      .transform((value) => value.split(',').map((key) => key.trim()).filter((key) => key !== ''))
      .refine((keys) => keys.length > 0, 'lists no key'),
    expected: 'one or more IMS AuthKeys, comma-separated',
  },
  CALLBACK_URL: {
    schema: z.url({ protocol: /^https?$/ }),
    expected: 'the exact callback URL configured in IMS, such as https://example.com/callback',
  },
  CALLBACK_TOKEN: {
    schema: z.string().min(16, 'is shorter than 16 characters'),
    expected: 'a random secret of at least 16 characters',
  },
  CALLBACK_AUTH: { schema: z.enum(['on', 'off']), expected: '"off" to accept unauthenticated callbacks, or "on"' },
  CALLBACK_MAX_SKEW_SECONDS: boundedNumber({ min: 1, max: 86_400, unit: 'seconds', example: 300 }),
  WORKER_FUNCTION: { schema: z.string().regex(FUNCTION_NAME, 'is not a function name'), expected: 'the worker function name' },
  FC_ENDPOINT: { schema: endpointSchema(), expected: 'a host, or a URL with scheme and port' },
  SOURCE_HOSTS: {
    schema: z
      .string()
      .transform((value) => value.split(',').map((host) => host.trim().toLowerCase()).filter((host) => host !== ''))
      .refine((hosts) => hosts.length > 0, 'lists no host')
      .refine((hosts) => hosts.every((host) => HOST_PATTERN.test(host)), 'contains an entry that is not a host name or *.domain pattern'),
    expected: 'comma-separated host names, "*." for any subdomain, such as *.aliyuncs.com',
  },
  JOB_MAX_AGE_HOURS: boundedNumber({ min: 0, minExclusive: true, max: 8_760, unit: 'hours', example: 72 }),
  JOB_LEASE_SECONDS: boundedNumber({ min: 1, max: 3_600, unit: 'seconds', example: 300 }),
  IMS_TIMEOUT_SECONDS: boundedNumber({ min: 1, max: 300, unit: 'seconds', example: 10 }),
  LOG_LEVEL: { schema: z.enum(['debug', 'info', 'warn', 'error']), expected: 'one of debug, info, warn, error' },
} satisfies Record<string, Setting<unknown>>;

type SettingName = keyof typeof SETTINGS;
type SettingValue<N extends SettingName> = z.output<(typeof SETTINGS)[N]['schema']>;

/**
 * Reads and validates every setting from `env`.
 *
 * @throws {ConfigError} listing each missing or invalid variable with its value (secrets masked) and the fix.
 */
export function loadConfig(env: Environment = process.env, runtime: RuntimeFacts = {}): Config {
  const problems: string[] = [];
  const read = <N extends SettingName>(name: N): SettingValue<N> | undefined => readSetting(env, name, problems);

  const ossBucket = read('OSS_BUCKET');
  if (isBlank(env.OSS_BUCKET)) {
    problems.push('OSS_BUCKET is missing: set it to the destination bucket name, such as my-exports');
  }

  const { region, unusableReason } = readFunctionRegion(env, runtime);
  const imsRegion = read('IMS_REGION') ?? region;
  const ossRegion = read('OSS_REGION') ?? (region ? `oss-${region}` : undefined);
  if (imsRegion === undefined && isBlank(env.IMS_REGION)) {
    problems.push(`IMS_REGION is missing and ${unusableReason}: set IMS_REGION, such as cn-shanghai`);
  }
  if (ossRegion === undefined && isBlank(env.OSS_REGION)) {
    problems.push(`OSS_REGION is missing and ${unusableReason}: set OSS_REGION, such as oss-cn-shanghai`);
  }

  const ossEndpoint = read('OSS_ENDPOINT');
  const imsEndpoint = read('IMS_ENDPOINT') ?? (imsRegion ? `https://ice.${imsRegion}.aliyuncs.com` : undefined);
  const config = {
    ossBucket: ossBucket ?? '',
    ossRegion: ossRegion ?? '',
    ossEndpoint,
    ossInternal: ossEndpoint === undefined && runtime.insideFunctionCompute === true,
    outputPrefix: read('OUTPUT_PREFIX') ?? 'ims-exports/',
    statePrefix: read('STATE_PREFIX') ?? 'ims-exports/.state/',
    imsRegion: imsRegion ?? '',
    imsEndpoint: splitEndpoint(imsEndpoint ?? ''),
    callbackAuthKeys: read('CALLBACK_AUTH_KEYS') ?? [],
    callbackUrl: read('CALLBACK_URL'),
    callbackToken: read('CALLBACK_TOKEN'),
    callbackAuthDisabled: read('CALLBACK_AUTH') === 'off',
    callbackMaxSkewSeconds: read('CALLBACK_MAX_SKEW_SECONDS') ?? 300,
    workerFunction: read('WORKER_FUNCTION'),
    fcEndpoint: read('FC_ENDPOINT'),
    sourceHosts: read('SOURCE_HOSTS') ?? ['*.aliyuncs.com'],
    jobMaxAgeHours: read('JOB_MAX_AGE_HOURS') ?? 72,
    jobLeaseSeconds: read('JOB_LEASE_SECONDS') ?? 300,
    imsTimeoutSeconds: read('IMS_TIMEOUT_SECONDS') ?? 10,
    logLevel: read('LOG_LEVEL') ?? 'info',
  } satisfies Config;

  // An invalid CALLBACK_URL is already reported by its own check.
  if (config.callbackAuthKeys.length > 0 && isBlank(env.CALLBACK_URL)) {
    problems.push('CALLBACK_URL is missing: IMS signs the callback URL, so set it to the exact URL configured in IMS when CALLBACK_AUTH_KEYS is set');
  }
  if (config.statePrefix === config.outputPrefix) {
    problems.push(`STATE_PREFIX="${config.statePrefix}" equals OUTPUT_PREFIX: give the ledger its own prefix, such as ${config.outputPrefix}.state/`);
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

interface FunctionRegion {
  /** The region ID, or undefined when it is unknown or not a region ID. */
  region: string | undefined;
  /** Reason `region` is undefined, for the problem lines of IMS_REGION and OSS_REGION. */
  unusableReason: string;
}

/**
 * Reads the region the function runs in: FC's `context.region`, else FC_REGION, else ALIBABA_CLOUD_REGION.
 * The value is checked like IMS_REGION because it becomes part of the default IMS endpoint's host name.
 */
function readFunctionRegion(env: Environment, runtime: RuntimeFacts): FunctionRegion {
  const sources = [
    { name: 'the function context', value: runtime.region },
    { name: 'FC_REGION', value: env.FC_REGION },
    { name: 'ALIBABA_CLOUD_REGION', value: env.ALIBABA_CLOUD_REGION },
  ];
  const source = sources.find((candidate) => !isBlank(candidate.value));
  if (source === undefined) return { region: undefined, unusableReason: 'the function region is unknown' };

  const value = source.value!.trim();
  if (REGION.test(value)) return { region: value, unusableReason: '' };
  return { region: undefined, unusableReason: `the function region ${JSON.stringify(value)} from ${source.name} is not a region ID` };
}

function isBlank(value: string | undefined): boolean {
  return value === undefined || value.trim() === '';
}

function readSetting<N extends SettingName>(env: Environment, name: N, problems: string[]): SettingValue<N> | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;

  const setting: Setting<unknown> = SETTINGS[name];
  const result = setting.schema.safeParse(raw.trim());
  if (result.success) return result.data as SettingValue<N>;

  const displayed = SECRET_VARIABLES.has(name) ? maskSecret(raw) : JSON.stringify(raw);
  const reason = result.error.issues.map((issue) => issue.message).join('; ');
  problems.push(`${name}=${displayed} is invalid (${reason}): expected ${setting.expected}`);
  return undefined;
}

/** Shows only the length of a secret value. */
function maskSecret(value: string): string {
  return `<secret, ${value.length} characters>`;
}

function endpointSchema(): z.ZodType<string> {
  return z.string().refine((value) => {
    try {
      const url = new URL(value.includes('://') ? value : `https://${value}`);
      const plain = url.pathname === '/' && url.search === '' && url.hash === '' && url.username === '' && url.password === '';
      return (url.protocol === 'https:' || url.protocol === 'http:') && plain;
    } catch {
      return false;
    }
  }, 'is neither a host nor an http(s) URL without a path');
}

/** Splits an endpoint setting (a host, or a URL with scheme and port) into host and protocol. */
export function splitEndpoint(endpoint: string): { host: string; protocol: 'https' | 'http' } {
  if (endpoint === '') return { host: '', protocol: 'https' };
  const url = new URL(endpoint.includes('://') ? endpoint : `https://${endpoint}`);
  return { host: url.host, protocol: url.protocol === 'http:' ? 'http' : 'https' };
}
