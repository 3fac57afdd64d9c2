/**
 * Property tests of `loadConfig` over arbitrary environment maps: it returns settings or throws a
 * `ConfigError` whose every problem names a variable, and it never prints a secret.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadConfig, type Config, type RuntimeFacts } from '../../lib/config';
import { ConfigError } from '../../lib/errors';

/** Every variable `loadConfig` reads, including the two it takes the region from. */
const VARIABLES = [
  'OSS_BUCKET',
  'OSS_REGION',
  'OSS_ENDPOINT',
  'OUTPUT_PREFIX',
  'STATE_PREFIX',
  'IMS_REGION',
  'IMS_ENDPOINT',
  'CALLBACK_AUTH_KEYS',
  'CALLBACK_URL',
  'CALLBACK_TOKEN',
  'CALLBACK_AUTH',
  'CALLBACK_MAX_SKEW_SECONDS',
  'WORKER_FUNCTION',
  'FC_ENDPOINT',
  'SOURCE_HOSTS',
  'JOB_MAX_AGE_HOURS',
  'JOB_LEASE_SECONDS',
  'IMS_TIMEOUT_SECONDS',
  'LOG_LEVEL',
  'FC_REGION',
  'ALIBABA_CLOUD_REGION',
] as const;
type Variable = (typeof VARIABLES)[number];

const NAMES_A_VARIABLE = new RegExp(`\\b(${VARIABLES.join('|')})\\b`);
const STARTS_WITH_A_VARIABLE = new RegExp(`^(${VARIABLES.join('|')})[= ]`);

/** A valid base, so that one changed variable is the only possible problem. */
const VALID_BASE: Record<string, string> = { OSS_BUCKET: 'customer-exports', IMS_REGION: 'cn-shanghai', OSS_REGION: 'oss-cn-shanghai' };

type Outcome = { config: Config } | { error: unknown };

function load(env: Record<string, string | undefined>, runtime: RuntimeFacts = {}): Outcome {
  try {
    return { config: loadConfig(env, runtime) };
  } catch (error) {
    return { error };
  }
}

function problemsOf(outcome: Outcome): readonly string[] {
  if ('config' in outcome) return [];
  return outcome.error instanceof ConfigError ? outcome.error.problems : [];
}

// ---------------------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------------------

/** Strings with the characters that break parsers: controls, separators, unicode, lone surrogates. */
const anyText = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.constantFrom('', ' ', '\t', '\n', ',', ' , ', '/', '//', '..', '[', ']', '%', '%zz', 'http://', 'https://', '::1', '[::1]', '0', '-1', 'NaN', 'Infinity', '1e400'),
);

/** Values each variable may reasonably hold, valid or nearly so. */
const PLAUSIBLE: Record<Variable, fc.Arbitrary<string>> = {
  OSS_BUCKET: fc.oneof(fc.stringMatching(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/), fc.constantFrom('Bucket', 'a', 'a_b', '-ab', 'ab-')),
  OSS_REGION: fc.constantFrom('oss-cn-shanghai', 'oss-ap-southeast-1', 'cn-shanghai', 'oss-', 'OSS-CN-SHANGHAI'),
  OSS_ENDPOINT: fc.constantFrom('http://127.0.0.1:9000', 'oss-cn-shanghai.aliyuncs.com', 'https://h.example/path', 'ftp://h', 'https://user@h', 'https://:pw@h', 'https://[::1]:9000', 'h:99999'),
  OUTPUT_PREFIX: fc.constantFrom('ims-exports/', '', 'out/', '/abs/', 'no-slash', 'a/../b/', './x/', 'a//b/'),
  STATE_PREFIX: fc.constantFrom('ims-exports/.state/', 'state/', 'ims-exports/', '/x/', 'a/./b/'),
  IMS_REGION: fc.constantFrom('cn-shanghai', 'cn-beijing', 'ap-southeast-1', 'Shanghai', 'cn', 'cn-', 'cn shanghai'),
  IMS_ENDPOINT: fc.constantFrom('ice.cn-shanghai.aliyuncs.com', 'http://127.0.0.1:9001', 'https://ice-vpc.cn-shanghai.aliyuncs.com', 'https://h/p', 'ice.cn-shanghai.aliyuncs.com:99999'),
  CALLBACK_AUTH_KEYS: fc.constant('<secret>'),
  CALLBACK_URL: fc.constantFrom('https://example.com/callback', 'http://example.com/cb?x=1', 'ftp://example.com/', 'example.com/cb', 'https://', 'javascript:alert(1)'),
  CALLBACK_TOKEN: fc.constant('<secret>'),
  CALLBACK_AUTH: fc.constantFrom('on', 'off', 'OFF', 'yes', 'false'),
  CALLBACK_MAX_SKEW_SECONDS: fc.oneof(fc.integer({ min: -10, max: 100_000 }).map(String), fc.constantFrom('0x10', '1e3', '1e400', 'NaN', ' 300 ', '3.5', '86400', '86401')),
  WORKER_FUNCTION: fc.oneof(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_-]{0,127}$/), fc.constantFrom('1worker', 'worker$', 'a'.repeat(129))),
  FC_ENDPOINT: fc.constantFrom('http://127.0.0.1:9002', '1234567890.cn-shanghai.fc.aliyuncs.com', 'https://a:b@h', 'https://h/p?q'),
  SOURCE_HOSTS: fc.constantFrom('*.aliyuncs.com', '127.0.0.1', 'localhost, *.aliyuncs.com', ',', '*.', '**.a.com', 'https://evil.example', 'a..b', 'ALIYUNCS.COM'),
  JOB_MAX_AGE_HOURS: fc.oneof(fc.integer({ min: -10, max: 10_000 }).map(String), fc.constantFrom('1.5', '0.001', '8760', '8761', 'forever', '1e2', '')),
  JOB_LEASE_SECONDS: fc.oneof(fc.integer({ min: -10, max: 5_000 }).map(String), fc.constantFrom('0.5', '0.001', '99999999999', '0x10', 'long', '')),
  IMS_TIMEOUT_SECONDS: fc.oneof(fc.integer({ min: -1, max: 400 }).map(String), fc.constantFrom('2.5', '1e12', '0x10', '300', '301', 'slow', '')),
  LOG_LEVEL: fc.constantFrom('debug', 'info', 'warn', 'error', 'INFO', 'verbose', 'trace'),
  FC_REGION: fc.constantFrom('cn-shanghai', 'cn-hangzhou', 'Shanghai', 'cn shanghai', '[', 'a/b', 'cn-shanghai.evil.example'),
  ALIBABA_CLOUD_REGION: fc.constantFrom('cn-beijing', 'x', ''),
};

interface Secrets {
  authKeys: string[];
  token: string;
}

/**
 * Secrets that cannot occur in a message by chance: each one carries `~` and at least six random hex digits,
 * and the token is sometimes shorter than the 16 characters CALLBACK_TOKEN requires, so that it is rejected.
 */
const secretsArbitrary: fc.Arbitrary<Secrets> = fc.record({
  authKeys: fc.array(fc.stringMatching(/^[0-9a-f]{6,24}$/).map((hex) => `~${hex}`), { maxLength: 3 }),
  token: fc.oneof(fc.stringMatching(/^[0-9a-f]{6,14}$/), fc.stringMatching(/^[0-9a-f]{16,40}$/)).map((hex) => `~${hex}`),
});

/** The raw CALLBACK_AUTH_KEYS value: the keys joined with commas, spaces and empty entries. */
const authKeysText = (keys: readonly string[]) =>
  fc.tuple(fc.constantFrom(',', ', ', ' ,', ',,'), fc.boolean()).map(([separator, trailing]) => `${keys.join(separator)}${trailing ? separator : ''}`);

interface Scenario {
  env: Record<string, string>;
  runtime: RuntimeFacts;
  secrets: Secrets;
}

/** An environment where each variable is absent, plausible or arbitrary text, with unrelated extras. */
const scenario: fc.Arbitrary<Scenario> = secretsArbitrary.chain((secrets) =>
  fc
    .record({
      chosen: fc.record(
        Object.fromEntries(VARIABLES.map((name) => [name, fc.oneof({ weight: 3, arbitrary: PLAUSIBLE[name] }, { weight: 1, arbitrary: anyText })])) as Record<
          Variable,
          fc.Arbitrary<string>
        >,
        { requiredKeys: [] },
      ),
      authKeys: fc.option(authKeysText(secrets.authKeys), { nil: undefined }),
      token: fc.option(fc.constant(secrets.token), { nil: undefined }),
      extras: fc.dictionary(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 }), { maxKeys: 3 }),
      region: fc.option(fc.oneof(PLAUSIBLE.FC_REGION, anyText), { nil: undefined }),
      insideFunctionCompute: fc.option(fc.boolean(), { nil: undefined }),
    })
    .map(({ chosen, authKeys, token, extras, region, insideFunctionCompute }) => {
      const env: Record<string, string> = { ...extras, ...(chosen as Record<string, string>) };
      delete env.CALLBACK_AUTH_KEYS;
      delete env.CALLBACK_TOKEN;
      if (authKeys !== undefined) env.CALLBACK_AUTH_KEYS = authKeys;
      if (token !== undefined) env.CALLBACK_TOKEN = token;
      const runtime: RuntimeFacts = {};
      if (region !== undefined) runtime.region = region;
      if (insideFunctionCompute !== undefined) runtime.insideFunctionCompute = insideFunctionCompute;
      return { env, runtime, secrets };
    }),
);

// ---------------------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------------------

describe('loadConfig', () => {
  it('throws nothing but ConfigError', () => {
    fc.assert(
      fc.property(scenario, ({ env, runtime }) => {
        const outcome = load(env, runtime);

        if ('error' in outcome) expect(outcome.error).toBeInstanceOf(ConfigError);
      }),
      { numRuns: 300 },
    );
  });

  it('names a variable in every problem', () => {
    fc.assert(
      fc.property(scenario, ({ env, runtime }) => {
        const problems = problemsOf(load(env, runtime));

        for (const problem of problems) expect(problem).toMatch(NAMES_A_VARIABLE);
      }),
      { numRuns: 300 },
    );
  });

  it('never puts a secret in a message', () => {
    fc.assert(
      fc.property(scenario, ({ env, runtime, secrets }) => {
        const outcome = load(env, runtime);
        const message = 'error' in outcome && outcome.error instanceof Error ? outcome.error.message : '';

        for (const key of secrets.authKeys) expect(message).not.toContain(key);
        expect(message).not.toContain(secrets.token);
      }),
      { numRuns: 300 },
    );
  });

  it('returns usable settings when it does not throw', () => {
    fc.assert(
      fc.property(scenario, ({ env, runtime }) => {
        const outcome = load(env, runtime);
        if (!('config' in outcome)) return;
        const { config } = outcome;

        expect(config.ossBucket).toMatch(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/);
        expect(config.ossRegion).toMatch(/^oss-[a-z0-9-]+$/);
        expect(config.imsRegion).toMatch(/^[a-z]{2,}(-[a-z0-9]+)+$/);
        expect(config.imsEndpoint.host).not.toBe('');
        expect(config.statePrefix).not.toBe(config.outputPrefix);
        expect(config.sourceHosts.length).toBeGreaterThan(0);
        expect(config.callbackMaxSkewSeconds).toBeGreaterThanOrEqual(1);
        expect(config.callbackMaxSkewSeconds).toBeLessThanOrEqual(86_400);
        expect(config.jobMaxAgeHours).toBeGreaterThan(0);
        expect(config.jobMaxAgeHours).toBeLessThanOrEqual(8_760);
        expect(config.jobLeaseSeconds).toBeGreaterThanOrEqual(1);
        expect(config.jobLeaseSeconds).toBeLessThanOrEqual(3_600);
        expect(config.imsTimeoutSeconds).toBeGreaterThanOrEqual(1);
        expect(config.imsTimeoutSeconds).toBeLessThanOrEqual(300);
        if (config.callbackAuthKeys.length > 0) expect(config.callbackUrl).toBeDefined();
      }),
      { numRuns: 300 },
    );
  });
});

/** Values that each setting must reject, checked one at a time against a valid base. */
const INVALID: Partial<Record<Variable, fc.Arbitrary<string>>> = {
  OSS_BUCKET: fc.oneof(fc.constantFrom(' ', '\t', 'Bucket', 'a', 'a_b', '-ab', 'ab-', 'a'.repeat(64)), fc.string({ minLength: 1 }).map((text) => `${text}/x`)),
  OSS_REGION: fc.constantFrom('cn-shanghai', 'oss-', 'OSS-CN-SHANGHAI', 'oss cn'),
  OSS_ENDPOINT: fc.constantFrom('ftp://h', 'https://h.example/path', 'https://user@h', 'https://:pw@h', 'http://h?q=1', 'h:99999', '[::1'),
  OUTPUT_PREFIX: fc.constantFrom('no-slash', '/abs/', 'a/../b/', './x/', 'a/./'),
  STATE_PREFIX: fc.constantFrom('ims-exports/', '/x/', 'a/./b/', 'x'),
  IMS_REGION: fc.constantFrom('Shanghai', 'cn', 'cn-', 'cn shanghai', 'cn-shanghai/x'),
  IMS_ENDPOINT: fc.constantFrom('ftp://h', 'https://h/p', 'https://a@h', 'https://:pw@h', 'h:99999'),
  CALLBACK_AUTH_KEYS: fc.constantFrom(',', ' , ', ',,,'),
  CALLBACK_URL: fc.constantFrom('ftp://example.com/', 'example.com/cb', 'https://', 'javascript:alert(1)'),
  CALLBACK_TOKEN: fc.stringMatching(/^[!-~]{1,15}$/).filter((text) => text.trim() === text),
  CALLBACK_AUTH: fc.constantFrom('OFF', 'yes', 'false', 'disabled'),
  CALLBACK_MAX_SKEW_SECONDS: fc.constantFrom('0', '-1', 'NaN', '1e400', 'abc', 'Infinity', '1e3', '0x10', '86401', '.5'),
  WORKER_FUNCTION: fc.constantFrom('1worker', 'worker$', 'a'.repeat(129), 'acs:fc:worker'),
  FC_ENDPOINT: fc.constantFrom('https://a:b@h', 'https://h/p', 'ftp://h'),
  SOURCE_HOSTS: fc.constantFrom(',', '*.', '**.a.com', 'https://evil.example', 'a..b', 'evil.example/x', 'user@evil.example', 'a b'),
  JOB_MAX_AGE_HOURS: fc.constantFrom('0', '-5', 'forever', 'Infinity', '8761', '1e2', '0x48'),
  JOB_LEASE_SECONDS: fc.constantFrom('0', '-1', 'long', 'Infinity', '0.001', '99999999999', '3601', '+300', '3_600'),
  IMS_TIMEOUT_SECONDS: fc.constantFrom('0', '-3', 'slow', 'Infinity', '1e12', '0x10', '301', '10.', '0.5'),
  LOG_LEVEL: fc.constantFrom('INFO', 'verbose', 'trace', 'warning'),
};

describe('loadConfig with one invalid setting', () => {
  it('names that setting', () => {
    const invalidSetting = fc.constantFrom(...(Object.keys(INVALID) as Variable[])).chain((name) => INVALID[name]!.map((value) => ({ name, value })));

    fc.assert(
      fc.property(invalidSetting, ({ name, value }) => {
        const env = { ...VALID_BASE, [name]: value };
        if (name === 'CALLBACK_AUTH_KEYS') env.CALLBACK_URL = 'https://example.com/callback';
        // With a key set, an invalid CALLBACK_URL must not also be reported as missing.
        if (name === 'CALLBACK_URL') env.CALLBACK_AUTH_KEYS = 'Key12345';

        const problems = problemsOf(load(env));

        expect(problems.filter((problem) => problem.startsWith(name))).toHaveLength(1);
        for (const problem of problems) expect(problem).toMatch(STARTS_WITH_A_VARIABLE);
      }),
      { numRuns: 200 },
    );
  });

  it('names an unusable function region', () => {
    const badRegion = fc.oneof(fc.constantFrom('Shanghai', 'cn shanghai', '[', 'a/b', 'cn-shanghai.evil.example', ' '), anyText.filter((text) => !/^[a-z]{2,}(-[a-z0-9]+)+$/.test(text.trim())));
    const source = fc.constantFrom('FC_REGION', 'ALIBABA_CLOUD_REGION', 'context');

    fc.assert(
      fc.property(badRegion, source, (region, from) => {
        const env: Record<string, string> = { OSS_BUCKET: 'customer-exports' };
        if (from !== 'context') env[from] = region;

        const outcome = load(env, from === 'context' ? { region } : {});

        expect('error' in outcome ? outcome.error : outcome.config).toBeInstanceOf(ConfigError);
        expect(problemsOf(outcome).some((problem) => problem.startsWith('IMS_REGION is missing'))).toBe(true);
        expect(problemsOf(outcome).some((problem) => problem.startsWith('OSS_REGION is missing'))).toBe(true);
      }),
      { numRuns: 100 },
    );
  });
});
