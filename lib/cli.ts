/**
 * `ims-export`: runs the product's use cases from a shell, with credentials from the environment.
 *
 *   ims-export sync <JobId>
 *   ims-export submit --export-type BaseTimeline|AdobePremierePro (--project-id ID | --timeline-file FILE)
 *                     [--bucket NAME] [--prefix PREFIX] [--user-data JSON]
 *
 * Output is one JSON document on standard output; logs go to standard error. The exit code is 0 on success,
 * 1 when the job failed or could not be synced, and 2 for invalid usage or settings.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { loadConfig, type Config } from './config';
import { resolveCredentials } from './credentials';
import { ConfigError, messageOf } from './errors';
import { ImsClient } from './ims';
import { isValidJobId } from './job-id';
import { createLogger, setLogSink, type Logger } from './log';
import { OssBucket } from './oss';
import { syncExportJob } from './sync';

const USAGE = `Usage:
  ims-export sync <JobId>
      Copy a finished export job into OSS_BUCKET and write its manifest.
  ims-export submit --export-type <BaseTimeline|AdobePremierePro> (--project-id <id> | --timeline-file <file>)
                    [--bucket <name>] [--prefix <prefix>] [--user-data <json>]
      Submit a project export job and print its JobId. --bucket defaults to OSS_BUCKET.

Settings come from environment variables (OSS_BUCKET, IMS_REGION, ...) and credentials from
ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET and ALIBABA_CLOUD_SECURITY_TOKEN.`;

class UsageError extends Error {
  override name = 'UsageError';
}

/** Runs the command line `args` and returns the process exit code. */
export async function runCli(args: readonly string[], env: Record<string, string | undefined> = process.env): Promise<number> {
  setLogSink((line) => process.stderr.write(`${line}\n`));
  const [command, ...rest] = args;

  try {
    if (command === undefined || command === '--help' || command === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    }
    const config = loadConfig(env, { region: env.IMS_REGION ?? env.ALIBABA_CLOUD_REGION });
    const logger = createLogger(config.logLevel, { function: 'cli' });

    switch (command) {
      case 'sync':
        return await runSync(rest, config, logger);
      case 'submit':
        return await runSubmit(rest, config, logger);
      default:
        throw new UsageError(`Unknown command "${command}"`);
    }
  } catch (error) {
    if (error instanceof UsageError || error instanceof ConfigError) {
      printJson({ error: error.message });
      process.stderr.write(`${error.message}\n\n${USAGE}\n`);
      return 2;
    }
    printJson({ error: messageOf(error) });
    return 1;
  }
}

async function runSync(args: readonly string[], config: Config, logger: Logger): Promise<number> {
  const { positionals } = parseArgs({ args: [...args], allowPositionals: true, strict: true });
  if (positionals.length !== 1) throw new UsageError('sync takes exactly one JobId');
  const jobId = positionals[0]!;
  if (!isValidJobId(jobId)) throw new UsageError(`JobId ${JSON.stringify(jobId)} is invalid: expected 1-64 letters, digits, "-", "_" or "*"`);

  const credentials = resolveCredentials(undefined);
  const outcome = await syncExportJob(jobId, {
    config,
    logger,
    ims: new ImsClient({ endpoint: config.imsEndpoint, credentials, logger }),
    bucket: new OssBucket(config, credentials),
  });
  printJson(outcome);
  return outcome.outcome === 'copied' || outcome.outcome === 'already-synced' || outcome.outcome === 'pending' ? 0 : 1;
}

async function runSubmit(args: readonly string[], config: Config, logger: Logger): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    strict: true,
    options: {
      'export-type': { type: 'string' },
      'project-id': { type: 'string' },
      'timeline-file': { type: 'string' },
      bucket: { type: 'string' },
      prefix: { type: 'string' },
      'user-data': { type: 'string' },
    },
  });
  const exportType = values['export-type'];
  if (exportType !== 'BaseTimeline' && exportType !== 'AdobePremierePro') {
    throw new UsageError('--export-type must be BaseTimeline or AdobePremierePro');
  }
  if ((values['project-id'] === undefined) === (values['timeline-file'] === undefined)) {
    throw new UsageError('give exactly one of --project-id and --timeline-file');
  }
  if (values['user-data'] !== undefined) checkJson(values['user-data'], '--user-data');
  const timeline = values['timeline-file'] === undefined ? undefined : await readFile(values['timeline-file'], 'utf8');
  if (timeline !== undefined) checkJson(timeline, '--timeline-file');

  const credentials = resolveCredentials(undefined);
  const ims = new ImsClient({ endpoint: config.imsEndpoint, credentials, logger });
  const jobId = await ims.submitProjectExportJob({
    exportType,
    outputBucket: values.bucket ?? config.ossBucket,
    ...(values.prefix === undefined ? {} : { outputPrefix: values.prefix }),
    ...(values['project-id'] === undefined ? {} : { projectId: values['project-id'] }),
    ...(timeline === undefined ? {} : { timeline }),
    ...(values['user-data'] === undefined ? {} : { userData: values['user-data'] }),
  });
  printJson({ jobId });
  return 0;
}

function checkJson(text: string, option: string): void {
  try {
    JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${option} is not valid JSON: ${messageOf(error)}`);
  }
}

function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
