import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config';
import { ConfigError } from '../../lib/errors';

const minimal = { OSS_BUCKET: 'my-exports' };

function problemsOf(env: Record<string, string>, runtime = { region: 'cn-shanghai' }): readonly string[] {
  try {
    loadConfig(env, runtime);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('loadConfig', () => {
  it('derives defaults from the function region', () => {
    const config = loadConfig(minimal, { region: 'cn-beijing', insideFunctionCompute: true });

    expect(config.ossRegion).toBe('oss-cn-beijing');
    expect(config.imsRegion).toBe('cn-beijing');
    expect(config.imsEndpoint).toEqual({ host: 'ice.cn-beijing.aliyuncs.com', protocol: 'https' });
    expect(config.ossInternal).toBe(true);
    expect(config.outputPrefix).toBe('ims-exports/');
    expect(config.statePrefix).toBe('ims-exports/.state/');
    expect(config.sourceHosts).toEqual(['*.aliyuncs.com']);
    expect(config.callbackMaxSkewSeconds).toBe(300);
    expect(config.jobMaxAgeHours).toBe(72);
    expect(config.logLevel).toBe('info');
  });

  it('reads endpoint overrides with scheme and port', () => {
    const config = loadConfig(
      { ...minimal, OSS_ENDPOINT: 'http://127.0.0.1:9000', IMS_ENDPOINT: 'http://127.0.0.1:9001' },
      { region: 'cn-shanghai', insideFunctionCompute: true },
    );

    expect(config.ossEndpoint).toBe('http://127.0.0.1:9000');
    expect(config.ossInternal).toBe(false);
    expect(config.imsEndpoint).toEqual({ host: '127.0.0.1:9001', protocol: 'http' });
  });

  it('splits lists and trims their entries', () => {
    const config = loadConfig(
      { ...minimal, CALLBACK_AUTH_KEYS: 'OldKey1, NewKey2', CALLBACK_URL: 'https://example.com/cb', SOURCE_HOSTS: '*.aliyuncs.com, 127.0.0.1' },
      { region: 'cn-shanghai' },
    );

    expect(config.callbackAuthKeys).toEqual(['OldKey1', 'NewKey2']);
    expect(config.sourceHosts).toEqual(['*.aliyuncs.com', '127.0.0.1']);
  });

  it('names a missing bucket and the fix', () => {
    const problems = problemsOf({});

    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^OSS_BUCKET is missing: set it to/);
  });

  it('asks for regions when the function region is unknown', () => {
    const problems = problemsOf(minimal, {} as { region: string });

    expect(problems.some((problem) => problem.startsWith('IMS_REGION is missing'))).toBe(true);
    expect(problems.some((problem) => problem.startsWith('OSS_REGION is missing'))).toBe(true);
  });

  it('lists every invalid variable with its value', () => {
    const problems = problemsOf({ ...minimal, OUTPUT_PREFIX: 'exports', JOB_MAX_AGE_HOURS: '-1', LOG_LEVEL: 'loud', OSS_ENDPOINT: 'ftp://x' });

    expect(problems).toHaveLength(4);
    expect(problems.find((p) => p.startsWith('OUTPUT_PREFIX='))).toContain('"exports"');
    expect(problems.find((p) => p.startsWith('OUTPUT_PREFIX='))).toContain('must end with "/"');
    expect(problems.find((p) => p.startsWith('JOB_MAX_AGE_HOURS='))).toContain('"-1"');
    expect(problems.find((p) => p.startsWith('LOG_LEVEL='))).toContain('one of debug, info, warn, error');
    expect(problems.find((p) => p.startsWith('OSS_ENDPOINT='))).toContain('"ftp://x"');
  });

  it.each([
    { name: 'CALLBACK_MAX_SKEW_SECONDS', value: '86401', expected: 'from 1 to 86400' },
    { name: 'CALLBACK_MAX_SKEW_SECONDS', value: '0.5', expected: 'from 1 to 86400' },
    { name: 'JOB_MAX_AGE_HOURS', value: '8761', expected: 'at most 8760' },
    { name: 'JOB_MAX_AGE_HOURS', value: '0', expected: 'at most 8760' },
    { name: 'JOB_LEASE_SECONDS', value: '99999999999', expected: 'from 1 to 3600' },
    { name: 'JOB_LEASE_SECONDS', value: '0.001', expected: 'from 1 to 3600' },
    { name: 'IMS_TIMEOUT_SECONDS', value: '1e12', expected: 'from 1 to 300' },
    { name: 'IMS_TIMEOUT_SECONDS', value: '301', expected: 'from 1 to 300' },
  ])('rejects $name=$value outside its range', ({ name, value, expected }) => {
    const problems = problemsOf({ ...minimal, [name]: value });

    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^${name}="${value}" is invalid`));
    expect(problems[0]).toContain(expected);
  });

  it.each(['0x10', '1e2', '0b11', '0o17', '.5', '5.', '+5', '1_000', 'Infinity'])('rejects IMS_TIMEOUT_SECONDS=%s as not decimal', (value) => {
    const problems = problemsOf({ ...minimal, IMS_TIMEOUT_SECONDS: value });

    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(`IMS_TIMEOUT_SECONDS="${value}" is invalid (is not a plain decimal number)`);
  });

  it('accepts numbers at the ends of each range', () => {
    const lowest = loadConfig(
      { ...minimal, CALLBACK_MAX_SKEW_SECONDS: '1', JOB_MAX_AGE_HOURS: '0.5', JOB_LEASE_SECONDS: '1', IMS_TIMEOUT_SECONDS: '1' },
      { region: 'cn-shanghai' },
    );
    const highest = loadConfig(
      { ...minimal, CALLBACK_MAX_SKEW_SECONDS: '86400', JOB_MAX_AGE_HOURS: '8760', JOB_LEASE_SECONDS: '3600', IMS_TIMEOUT_SECONDS: '300.0' },
      { region: 'cn-shanghai' },
    );

    expect(lowest).toMatchObject({ callbackMaxSkewSeconds: 1, jobMaxAgeHours: 0.5, jobLeaseSeconds: 1, imsTimeoutSeconds: 1 });
    expect(highest).toMatchObject({ callbackMaxSkewSeconds: 86400, jobMaxAgeHours: 8760, jobLeaseSeconds: 3600, imsTimeoutSeconds: 300 });
  });

  it('masks secret values in messages', () => {
    const problems = problemsOf({ ...minimal, CALLBACK_TOKEN: 'short-secret' });

    expect(problems).toHaveLength(1);
    expect(problems[0]).not.toContain('short-secret');
    expect(problems[0]).toContain('<secret, 12 characters>');
  });

  it('requires CALLBACK_URL with auth keys', () => {
    const problems = problemsOf({ ...minimal, CALLBACK_AUTH_KEYS: 'Key12345' });

    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^CALLBACK_URL is missing/);
    expect(problems[0]).not.toContain('Key12345');
  });

  it('reports an invalid CALLBACK_URL once', () => {
    const problems = problemsOf({ ...minimal, CALLBACK_AUTH_KEYS: 'Key12345', CALLBACK_URL: 'not a url' });

    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^CALLBACK_URL="not a url" is invalid/);
  });

  it('rejects a ledger prefix equal to the output prefix', () => {
    const problems = problemsOf({ ...minimal, OUTPUT_PREFIX: 'out/', STATE_PREFIX: 'out/' });

    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('STATE_PREFIX="out/" equals OUTPUT_PREFIX');
  });

  it('rejects a source host list with a bad entry', () => {
    const problems = problemsOf({ ...minimal, SOURCE_HOSTS: '*.aliyuncs.com,https://evil.example' });

    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^SOURCE_HOSTS=/);
  });

  it('throws a ConfigError whose message lists the problems', () => {
    expect(() => loadConfig({}, { region: 'cn-shanghai' })).toThrow(ConfigError);
    expect(() => loadConfig({}, { region: 'cn-shanghai' })).toThrow(/Invalid settings:\n- OSS_BUCKET is missing/);
  });
});
