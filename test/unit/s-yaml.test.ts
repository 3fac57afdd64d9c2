// Renders s.yaml with the installed Serverless Devs CLI (`s preview`, which resolves `${env()}` and
// `${vars}` without loading the fc3 component) and checks the result against the fc3 props schema and
// this project's deployment contract. Also checks the shape of deploy/ram-policy.json.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadConfig } from '../../lib/config';
import { fc3FunctionPropsSchema, MAX_ENVIRONMENT_BYTES, type Fc3FunctionProps } from '../fixtures/fc3-props';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const S_CLI = path.join(REPO_ROOT, 'node_modules', '@serverless-devs', 's', 'bin', 's');

const FUNCTION_NAMES = ['callback', 'worker', 'poller'] as const;
type FunctionName = (typeof FUNCTION_NAMES)[number];

// Every setting of the external contract that s.yaml passes to all three functions. FC_ENDPOINT is
// absent because FC rejects variable names with the FC_ prefix.
const SHARED_SETTINGS = [
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
  'CALLBACK_MAX_SKEW_SECONDS',
  'SOURCE_HOSTS',
  'JOB_MAX_AGE_HOURS',
  'JOB_LEASE_SECONDS',
  'IMS_TIMEOUT_SECONDS',
  'LOG_LEVEL',
] as const;

const DEFAULT_SETTINGS = {
  OSS_REGION: '',
  OSS_ENDPOINT: '',
  OUTPUT_PREFIX: 'ims-exports/',
  STATE_PREFIX: 'ims-exports/.state/',
  IMS_REGION: '',
  IMS_ENDPOINT: '',
  CALLBACK_URL: '',
  CALLBACK_MAX_SKEW_SECONDS: '300',
  SOURCE_HOSTS: '*.aliyuncs.com',
  JOB_MAX_AGE_HOURS: '72',
  JOB_LEASE_SECONDS: '300',
  IMS_TIMEOUT_SECONDS: '10',
  LOG_LEVEL: 'info',
} as const;

const ROLE_ARN = 'acs:ram::1000000000000000:role/ims-export-sync-test';

const renderedProjectSchema = z.object({
  actions: z.record(z.string(), z.array(z.object({ run: z.string().optional(), path: z.string().optional() }))),
  resources: z.record(z.string(), z.object({ component: z.string(), props: z.unknown() })),
});
type RenderedProject = z.infer<typeof renderedProjectSchema>;

interface RenderResult {
  exitCode: number;
  /** `s preview -o json` prints the rendered project, or the error message, on stdout. */
  stdout: string;
  stderr: string;
}

/**
 * Runs `s preview -o json --silent` on a copy of s.yaml with only `variables` as its environment.
 *
 * The copy sits in a temporary folder so that s neither reads a developer's `.env` beside s.yaml nor
 * writes to `~/.s`. `NODE_ENV=test` keeps s 3.1.10 from spawning its update-check and report
 * processes. Without it a preview starts a DNS lookup, and with it strace showed no connection at all.
 */
async function renderServerlessYaml(variables: Record<string, string>): Promise<RenderResult> {
  const workDir = await mkdtemp(path.join(tmpdir(), 's-yaml-test-'));
  try {
    const projectDir = path.join(workDir, 'project');
    const configHome = path.join(workDir, 'home');
    await mkdir(projectDir);
    await mkdir(path.join(configHome, '.s'), { recursive: true });
    await writeFile(path.join(configHome, '.s', 'set-config.yml'), 'analysis: disable\n');
    await copyFile(path.join(REPO_ROOT, 's.yaml'), path.join(projectDir, 's.yaml'));

    const env = {
      PATH: process.env.PATH ?? '',
      HOME: configHome,
      serverless_devs_config_home: configHome,
      NODE_ENV: 'test',
      ...variables,
    };
    return await runNode([S_CLI, 'preview', '-o', 'json', '--silent'], projectDir, env);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

function runNode(args: string[], cwd: string, env: Record<string, string>): Promise<RenderResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd, env, timeout: 60_000 }, (error, stdout, stderr) => {
      let exitCode = 0;
      if (error !== null) exitCode = typeof error.code === 'number' ? error.code : 1;
      resolve({ exitCode, stdout, stderr });
    });
  });
}

function parseRender(result: RenderResult): RenderedProject {
  if (result.exitCode !== 0) {
    throw new Error(`s preview failed with exit code ${result.exitCode}: ${result.stdout}${result.stderr}`);
  }
  return renderedProjectSchema.parse(JSON.parse(result.stdout));
}

/**
 * Returns a resource's props without validating them: the schema test reports invalid props, so one
 * wrong field does not also fail every contract check on that function.
 */
function functionProps(project: RenderedProject, name: FunctionName): Fc3FunctionProps {
  const resource = project.resources[name];
  if (resource === undefined) throw new Error(`s.yaml has no resource named "${name}"`);
  return resource.props as Fc3FunctionProps;
}

function randomSecret(): string {
  return randomBytes(24).toString('hex');
}

describe('s.yaml', () => {
  const secrets = { CALLBACK_AUTH_KEYS: `${randomSecret()},${randomSecret()}`, CALLBACK_TOKEN: randomSecret() };
  let configured: RenderedProject;
  let minimal: RenderedProject;
  let overridden: RenderedProject;
  let withoutBucket: RenderResult;
  let withoutRole: RenderResult;

  beforeAll(async () => {
    const required = { OSS_BUCKET: 'ims-export-test', FC_ROLE_ARN: ROLE_ARN };
    const overrides = {
      ...required,
      REGION: 'cn-beijing',
      FUNCTION_PREFIX: 'sync-test',
      OUTPUT_PREFIX: 'custom/',
      LOG_LEVEL: 'debug',
    };
    const results = await Promise.all([
      renderServerlessYaml({ ...required, ...secrets, CALLBACK_URL: 'https://example.com/ims-callback' }),
      renderServerlessYaml(required),
      renderServerlessYaml(overrides),
      renderServerlessYaml({ FC_ROLE_ARN: ROLE_ARN }),
      renderServerlessYaml({ OSS_BUCKET: 'ims-export-test' }),
    ]);
    configured = parseRender(results[0]!);
    minimal = parseRender(results[1]!);
    overridden = parseRender(results[2]!);
    withoutBucket = results[3]!;
    withoutRole = results[4]!;
  });

  it('declares the three functions', () => {
    expect(Object.keys(configured.resources).sort()).toEqual([...FUNCTION_NAMES].sort());
  });

  it.each(FUNCTION_NAMES)('%s uses the fc3 component', (name) => {
    expect(configured.resources[name]?.component).toBe('fc3');
  });

  it.each(FUNCTION_NAMES)('%s props match the fc3 schema', (name) => {
    const result = fc3FunctionPropsSchema.safeParse(configured.resources[name]?.props);
    expect(result.error?.issues ?? []).toEqual([]);
  });

  it.each(FUNCTION_NAMES)('%s is built from dist/%s', (name) => {
    const props = functionProps(configured, name);
    expect(props.code).toBe(`./dist/${name}`);
    expect(props.handler).toBe('index.handler');
    expect(props.runtime).toBe('nodejs20');
  });

  it.each(FUNCTION_NAMES)('%s name carries the default prefix', (name) => {
    expect(functionProps(configured, name).functionName).toBe(`ims-export-sync-${name}`);
  });

  it.each(FUNCTION_NAMES)('%s defaults to cn-shanghai', (name) => {
    expect(functionProps(configured, name).region).toBe('cn-shanghai');
  });

  it.each(FUNCTION_NAMES)('%s runs with the role from FC_ROLE_ARN', (name) => {
    expect(functionProps(configured, name).role).toBe(ROLE_ARN);
  });

  it.each(FUNCTION_NAMES)('%s sends logs to the automatic log store', (name) => {
    expect(functionProps(configured, name).logConfig).toBe('auto');
  });

  describe.each(FUNCTION_NAMES)('%s environment', (name) => {
    it.each(SHARED_SETTINGS)('contains %s', (setting) => {
      expect(functionProps(configured, name).environmentVariables).toHaveProperty(setting);
    });

    it.each(Object.entries(DEFAULT_SETTINGS))('defaults %s to "%s"', (setting, value) => {
      expect(functionProps(minimal, name).environmentVariables[setting]).toBe(value);
    });

    it('passes OSS_BUCKET through', () => {
      expect(functionProps(configured, name).environmentVariables.OSS_BUCKET).toBe('ims-export-test');
    });

    it('passes the callback secrets through', () => {
      const variables = functionProps(configured, name).environmentVariables;
      expect(variables.CALLBACK_AUTH_KEYS).toBe(secrets.CALLBACK_AUTH_KEYS);
      expect(variables.CALLBACK_TOKEN).toBe(secrets.CALLBACK_TOKEN);
    });

    it('leaves unset secrets empty', () => {
      const variables = functionProps(minimal, name).environmentVariables;
      expect(variables.CALLBACK_AUTH_KEYS).toBe('');
      expect(variables.CALLBACK_TOKEN).toBe('');
    });

    it('leaves half the FC size limit free', () => {
      const variables = functionProps(configured, name).environmentVariables;
      const bytes = Object.entries(variables).reduce((sum, [key, value]) => sum + key.length + value.length, 0);
      expect(bytes).toBeLessThan(MAX_ENVIRONMENT_BYTES / 2);
    });

    it('loads with the runtime config loader', () => {
      const variables = functionProps(configured, name).environmentVariables;
      expect(() => loadConfig(variables, { region: 'cn-shanghai', insideFunctionCompute: true })).not.toThrow();
    });
  });

  it.each(['callback', 'poller'] as const)('%s hands jobs to the worker', (name) => {
    const worker = functionProps(configured, 'worker').functionName;
    expect(functionProps(configured, name).environmentVariables.WORKER_FUNCTION).toBe(worker);
  });

  it('worker does not hand jobs on', () => {
    expect(functionProps(configured, 'worker').environmentVariables).not.toHaveProperty('WORKER_FUNCTION');
  });

  it('callback has one anonymous POST http trigger', () => {
    const triggers = functionProps(configured, 'callback').triggers ?? [];
    expect(triggers).toHaveLength(1);
    expect(triggers[0]?.triggerType).toBe('http');
    expect(triggers[0]?.triggerConfig).toMatchObject({ authType: 'anonymous', methods: ['POST'] });
  });

  it('poller has one enabled timer trigger', () => {
    const triggers = functionProps(configured, 'poller').triggers ?? [];
    expect(triggers).toHaveLength(1);
    expect(triggers[0]?.triggerType).toBe('timer');
    expect(triggers[0]?.triggerConfig).toMatchObject({ enable: true });
  });

  it('poller timer payload is a JSON object', () => {
    const config = functionProps(configured, 'poller').triggers?.[0]?.triggerConfig;
    const payload = config !== undefined && 'payload' in config ? config.payload : undefined;
    expect(JSON.parse(payload ?? 'null')).toBeTypeOf('object');
    expect(JSON.parse(payload ?? 'null')).not.toBeNull();
  });

  it('worker has no trigger', () => {
    expect(functionProps(configured, 'worker').triggers).toBeUndefined();
  });

  it('worker timeout allows a long copy', () => {
    expect(functionProps(configured, 'worker').timeout).toBeGreaterThanOrEqual(3600);
  });

  it('worker async events outlive every retry', () => {
    const worker = functionProps(configured, 'worker');
    const asyncConfig = worker.asyncInvokeConfig;
    expect(asyncConfig).toBeDefined();
    const attempts = (asyncConfig?.maxAsyncRetryAttempts ?? 0) + 1;
    expect(asyncConfig?.maxAsyncEventAgeInSeconds).toBeGreaterThanOrEqual(attempts * worker.timeout);
  });

  it('callback timeout is shorter than the worker timeout', () => {
    expect(functionProps(configured, 'callback').timeout).toBeLessThan(functionProps(configured, 'worker').timeout);
  });

  it('builds before deploy', () => {
    expect(configured.actions['pre-deploy']).toContainEqual({ run: 'npm ci && npm run build', path: './' });
  });

  it('package.json defines the build script', async () => {
    const packageJson = JSON.parse(await readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
    expect(packageJson.scripts?.build).toBeTypeOf('string');
  });

  it.each(FUNCTION_NAMES)('%s takes REGION', (name) => {
    expect(functionProps(overridden, name).region).toBe('cn-beijing');
  });

  it.each(FUNCTION_NAMES)('%s takes FUNCTION_PREFIX', (name) => {
    expect(functionProps(overridden, name).functionName).toBe(`sync-test-${name}`);
  });

  it.each(['callback', 'poller'] as const)('%s follows a renamed worker', (name) => {
    expect(functionProps(overridden, name).environmentVariables.WORKER_FUNCTION).toBe('sync-test-worker');
  });

  it.each(FUNCTION_NAMES)('%s takes setting overrides', (name) => {
    const variables = functionProps(overridden, name).environmentVariables;
    expect(variables.OUTPUT_PREFIX).toBe('custom/');
    expect(variables.LOG_LEVEL).toBe('debug');
  });

  it('fails without OSS_BUCKET', () => {
    expect(withoutBucket.exitCode).not.toBe(0);
    expect(withoutBucket.stdout + withoutBucket.stderr).toContain('OSS_BUCKET');
  });

  it('fails without FC_ROLE_ARN', () => {
    expect(withoutRole.exitCode).not.toBe(0);
    expect(withoutRole.stdout + withoutRole.stderr).toContain('FC_ROLE_ARN');
  });
});

describe('fc3 props schema', () => {
  const validProps = {
    region: 'cn-shanghai',
    functionName: 'ims-export-sync-worker',
    runtime: 'nodejs20',
    code: './dist/worker',
    handler: 'index.handler',
    memorySize: 2048,
    cpu: 1,
    timeout: 7200,
    role: ROLE_ARN,
    logConfig: 'auto',
    environmentVariables: { OSS_BUCKET: 'ims-export-test' },
    asyncInvokeConfig: { maxAsyncRetryAttempts: 2, maxAsyncEventAgeInSeconds: 21600 },
    triggers: [
      { triggerName: 'http', triggerType: 'http', triggerConfig: { authType: 'anonymous', methods: ['POST'] } },
      { triggerName: 'tick', triggerType: 'timer', triggerConfig: { cronExpression: '0 */5 * * * *', enable: true, payload: '{}' } },
    ],
  };

  it('accepts valid props', () => {
    expect(fc3FunctionPropsSchema.safeParse(validProps).success).toBe(true);
  });

  const invalidCases: Array<[string, Record<string, unknown>]> = [
    ['memorySize below 128', { memorySize: 64 }],
    ['memorySize above 32768', { memorySize: 32_832 }],
    ['memorySize not a multiple of 64', { memorySize: 1000 }],
    ['timeout of 0', { timeout: 0 }],
    ['timeout above 86400', { timeout: 86_401 }],
    ['unknown runtime', { runtime: 'nodejs22' }],
    ['numeric environment value', { environmentVariables: { PORT: 8080 } }],
    ['FC_ environment key', { environmentVariables: { FC_ENDPOINT: 'http://127.0.0.1:9000' } }],
    ['environment over 4 KB', { environmentVariables: { LARGE: 'x'.repeat(MAX_ENVIRONMENT_BYTES) } }],
    ['more than 8 async retries', { asyncInvokeConfig: { maxAsyncRetryAttempts: 9, maxAsyncEventAgeInSeconds: 60 } }],
    ['async event age of 0', { asyncInvokeConfig: { maxAsyncRetryAttempts: 1, maxAsyncEventAgeInSeconds: 0 } }],
    ['cpu with too little memory', { cpu: 4 }],
    ['misspelt key', { memorysize: 512 }],
    ['missing role', { role: undefined }],
    ['http trigger without methods', { triggers: [{ triggerName: 'http', triggerType: 'http', triggerConfig: { authType: 'anonymous', methods: [] } }] }],
    ['unknown http authType', { triggers: [{ triggerName: 'http', triggerType: 'http', triggerConfig: { authType: 'none', methods: ['POST'] } }] }],
    ['5-field cron', { triggers: [{ triggerName: 'tick', triggerType: 'timer', triggerConfig: { cronExpression: '*/5 * * * *', enable: true } }] }],
    ['timer without enable', { triggers: [{ triggerName: 'tick', triggerType: 'timer', triggerConfig: { cronExpression: '@every 1m' } }] }],
  ];

  it.each(invalidCases)('rejects %s', (_description, change) => {
    expect(fc3FunctionPropsSchema.safeParse({ ...validProps, ...change }).success).toBe(false);
  });
});

describe('deploy/ram-policy.json', () => {
  const statementSchema = z.strictObject({
    Effect: z.literal('Allow'),
    Action: z.array(z.string().regex(/^[a-z]+:\S+$/)).min(1),
    Resource: z.array(z.string()).min(1),
    Condition: z.record(z.string(), z.record(z.string(), z.array(z.string()))).optional(),
  });
  const policySchema = z.strictObject({ Version: z.literal('1'), Statement: z.array(statementSchema).min(1) });
  type Statement = z.infer<typeof statementSchema>;

  let statements: Statement[];

  beforeAll(async () => {
    const text = await readFile(path.join(REPO_ROOT, 'deploy', 'ram-policy.json'), 'utf8');
    statements = policySchema.parse(JSON.parse(text)).Statement;
  });

  const statementsWith = (action: string): Statement[] => statements.filter((statement) => statement.Action.includes(action));

  const requiredActions = [
    'ice:GetProjectExportJob',
    'oss:PutObject',
    'oss:GetObject',
    'oss:DeleteObject',
    'oss:ListObjects',
    'oss:AbortMultipartUpload',
    'oss:ListParts',
    'oss:ListMultipartUploads',
    'fc:InvokeFunction',
  ];

  it.each(requiredActions)('grants %s', (action) => {
    expect(statementsWith(action).length).toBeGreaterThan(0);
  });

  it.each(['oss:PutObject', 'oss:DeleteObject', 'oss:AbortMultipartUpload', 'oss:ListParts'])('limits %s to the two prefixes', (action) => {
    const resources = statementsWith(action).flatMap((statement) => statement.Resource);
    expect(resources.sort()).toEqual(['acs:oss:*:*:<DESTINATION_BUCKET>/<OUTPUT_PREFIX>*', 'acs:oss:*:*:<DESTINATION_BUCKET>/<STATE_PREFIX>*']);
  });

  it('limits oss:ListObjects to the ledger prefix', () => {
    const [statement] = statementsWith('oss:ListObjects');
    expect(statement?.Condition).toEqual({ StringLike: { 'oss:Prefix': ['<STATE_PREFIX>*'] } });
  });

  it('reads source buckets only for copying', () => {
    const resources = statementsWith('oss:GetObject').flatMap((statement) => statement.Resource);
    expect(resources).toContain('acs:oss:*:*:<SOURCE_BUCKET>/*');
    expect(resources.filter((resource) => resource.startsWith('acs:oss:*:*:<DESTINATION_BUCKET>/*'))).toEqual([]);
  });

  it('invokes only the worker', () => {
    const resources = statementsWith('fc:InvokeFunction').flatMap((statement) => statement.Resource);
    expect(resources).toEqual(['acs:fc:<REGION>:<ACCOUNT_ID>:functions/<FUNCTION_PREFIX>-worker']);
  });

  it('grants no wildcard action', () => {
    const actions = statements.flatMap((statement) => statement.Action);
    expect(actions.filter((action) => action.includes('*'))).toEqual([]);
  });

  it('grants a wildcard resource only to ice', () => {
    const wildcard = statements.filter((statement) => statement.Resource.includes('*'));
    expect(wildcard.flatMap((statement) => statement.Action)).toEqual(['ice:GetProjectExportJob']);
  });
});
