/**
 * `ims-export`: runs the product's use cases from a shell, with credentials from the environment.
 *
 *   ims-export sync <JobId>
 *   ims-export submit --export-type BaseTimeline|AdobePremierePro (--project-id ID | --timeline-file FILE)
 *                     [--bucket NAME] [--prefix PREFIX] [--user-data JSON]
 *   ims-export register <JobId>
 *   ims-export poll [--timeout-seconds SECONDS]
 *
 * Output is one JSON document on standard output; logs go to standard error. The exit code is 0 on success,
 * 1 when a job failed or could not be synced or recorded, and 2 for invalid usage or settings.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { loadConfig, type Config } from './config';
import { resolveCredentials, type Credentials } from './credentials';
import { ConfigError, messageOf } from './errors';
import { createImsClient, type ImsClient } from './ims';
import { isValidJobId } from './job-id';
import { Ledger, type LedgerRecord } from './ledger';
import { createLogger, setLogSink, type Logger } from './log';
import { OssBucket } from './oss';
import { createProgressBar, logAboveBar } from './progress-bar';
import { syncExportJob, type SyncDependencies, type SyncOutcome } from './sync';
import { runTick, settleOutcome, type TickSummary } from './triggers';

const USAGE = `Usage:
  ims-export sync <JobId>
      Copy a finished export job into OSS_BUCKET and write its manifest. A job that is not finished yet,
      or that another run is copying, is recorded in the job ledger so that the poller finishes it, and
      the command exits 0.
  ims-export submit --export-type <BaseTimeline|AdobePremierePro> (--project-id <id> | --timeline-file <file>)
                    [--bucket <name>] [--prefix <prefix>] [--user-data <json>]
      Submit a project export job, record it in the job ledger and print its JobId.
      --bucket defaults to OSS_BUCKET.
  ims-export register <JobId>
      Record a job in the job ledger, due now, so that the next poller tick syncs it.
  ims-export poll [--timeout-seconds <seconds>]
      Run one poller tick here: sync the due jobs of the ledger in this process (WORKER_FUNCTION is not
      used) and print the summary. No job is started with less than 30 s left before the timeout
      (default 300 s). Exits 1 when any job ended in an error; such jobs stay in the ledger.

Settings come from environment variables (OSS_BUCKET, IMS_REGION, ...) and credentials from
ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET and ALIBABA_CLOUD_SECURITY_TOKEN.`;

type Environment = Record<string, string | undefined>;

class UsageError extends Error {
  override name = 'UsageError';
}

type Command = (args: readonly string[], config: Config, logger: Logger, env: Environment) => Promise<number>;

const COMMANDS = new Map<string, Command>([
  ['sync', runSync],
  ['submit', runSubmit],
  ['register', runRegister],
  ['poll', runPoll],
]);

/** Runs the command line `args` and returns the process exit code. */
export async function runCli(args: readonly string[], env: Environment = process.env): Promise<number> {
  setLogSink((line) => process.stderr.write(`${line}\n`));
  const [command, ...rest] = args;

  try {
    if (command === undefined || command === '--help' || command === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    }
    const run = COMMANDS.get(command);
    if (run === undefined) throw new UsageError(`Unknown command "${command}"`);

    const config = loadConfig(env, { region: env.IMS_REGION ?? env.ALIBABA_CLOUD_REGION });
    const logger = createLogger(config.logLevel, { function: 'cli' });
    return await run(rest, config, logger, env);
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

/** The clients a command works with, built from the settings and the credentials in the environment. */
interface Services {
  ims: ImsClient;
  bucket: OssBucket;
  ledger: Ledger;
}

function connect(config: Config, logger: Logger, env: Environment): Services {
  let credentials: Credentials;
  try {
    credentials = resolveCredentials(undefined, env);
  } catch (error) {
    throw new ConfigError([messageOf(error)]);
  }
  const bucket = new OssBucket(config, credentials);
  return {
    ims: createImsClient(config, credentials, logger),
    bucket,
    ledger: new Ledger(bucket, config.statePrefix),
  };
}

async function runSync(args: readonly string[], config: Config, logger: Logger, env: Environment): Promise<number> {
  const jobId = singleJobId(args, 'sync');
  const services = connect(config, logger, env);
  const outcome = await syncWithProgress(jobId, { config, logger, ...services });

  let ledgerError: string | undefined;
  try {
    await settleOutcome(services.ledger, outcome, { registeredBy: 'cli', record: await services.ledger.get(jobId) });
  } catch (error) {
    logger.error('Ledger update failed', { job_id: jobId, error });
    ledgerError = messageOf(error);
  }

  printJson(ledgerError === undefined ? outcome : { ...outcome, ledgerError });
  return ledgerError === undefined && isSuccessfulSync(outcome) ? 0 : 1;
}

/**
 * Runs the sync. On a terminal the download's progress is drawn as a bar on standard error, and each log line
 * erases the bar first so that it starts on a line of its own. Piped output gets the JSON log lines only.
 */
async function syncWithProgress(jobId: string, dependencies: SyncDependencies): Promise<SyncOutcome> {
  if (!process.stderr.isTTY) return syncExportJob(jobId, dependencies);

  const write = (text: string): void => {
    process.stderr.write(text);
  };
  const bar = createProgressBar({ write });
  const previousSink = setLogSink(logAboveBar(bar, write));
  try {
    return await syncExportJob(jobId, { ...dependencies, onProgress: bar.update });
  } finally {
    bar.finish();
    setLogSink(previousSink);
  }
}

/** True for a job that is copied, or that the ledger finishes later: still pending, or held by another run. */
function isSuccessfulSync(outcome: SyncOutcome): boolean {
  const { outcome: name } = outcome;
  return name === 'copied' || name === 'already-synced' || name === 'pending' || name === 'in-progress';
}

async function runRegister(args: readonly string[], config: Config, logger: Logger, env: Environment): Promise<number> {
  const jobId = singleJobId(args, 'register');
  const { ledger } = connect(config, logger, env);

  const record = await ledger.register(jobId, { registeredBy: 'cli', dueNow: true });
  printJson(describeRecord(record));
  return 0;
}

async function runPoll(args: readonly string[], config: Config, logger: Logger, env: Environment): Promise<number> {
  const { values, positionals } = parseArguments({
    args: [...args],
    allowPositionals: true,
    strict: true,
    options: { 'timeout-seconds': { type: 'string', default: '300' } },
  });
  if (positionals.length > 0) throw new UsageError('poll takes no JobId; use register <JobId> first');
  const timeoutSeconds = Number(values['timeout-seconds']);
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) {
    throw new UsageError(`--timeout-seconds ${JSON.stringify(values['timeout-seconds'])} is invalid: expected a positive number of seconds`);
  }

  const services = connect(config, logger, env);
  const summary: TickSummary = await runTick({ config, logger, ...services }, { deadlineMs: Date.now() + timeoutSeconds * 1000 });
  logger.info('Tick finished', { due: summary.due, started: summary.started, deferred: summary.deferred, outcomes: summary.outcomes });
  printJson(summary);
  return summary.jobs.some((job) => job.outcome === 'error') ? 1 : 0;
}

function singleJobId(args: readonly string[], command: string): string {
  const { positionals } = parseArguments({ args: [...args], allowPositionals: true, strict: true });
  if (positionals.length !== 1) throw new UsageError(`${command} takes exactly one JobId`);
  const jobId = positionals[0]!;
  if (!isValidJobId(jobId)) throw new UsageError(`JobId ${JSON.stringify(jobId)} is invalid: expected 1-64 letters, digits, "-", "_" or "*"`);
  return jobId;
}

function describeRecord(record: LedgerRecord): Record<string, unknown> {
  return {
    jobId: record.jobId,
    dueAt: new Date(record.dueAtMs).toISOString(),
    registeredAt: new Date(record.registeredAtMs).toISOString(),
    registeredBy: record.registeredBy,
    attempts: record.attempts,
  };
}

async function runSubmit(args: readonly string[], config: Config, logger: Logger, env: Environment): Promise<number> {
  const { values } = parseArguments({
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
  const timeline = values['timeline-file'] === undefined ? undefined : await readTimelineFile(values['timeline-file']);
  if (timeline !== undefined) checkJson(timeline, '--timeline-file');

  const { ims, ledger } = connect(config, logger, env);
  const jobId = await ims.submitProjectExportJob({
    exportType,
    outputBucket: values.bucket ?? config.ossBucket,
    ...(values.prefix === undefined ? {} : { outputPrefix: values.prefix }),
    ...(values['project-id'] === undefined ? {} : { projectId: values['project-id'] }),
    ...(timeline === undefined ? {} : { timeline }),
    ...(values['user-data'] === undefined ? {} : { userData: values['user-data'] }),
  });

  // The job exists now whatever happens next, so its JobId is printed even when the ledger write fails.
  try {
    const record = await ledger.register(jobId, { registeredBy: 'cli', dueAtMs: Date.now() + ledger.backoffMs(1) });
    printJson({ jobId, ledger: describeRecord(record) });
    return 0;
  } catch (error) {
    logger.error('Job submitted but not recorded in the ledger; run register with its JobId', { job_id: jobId, error });
    printJson({ jobId, ledgerError: messageOf(error) });
    return 1;
  }
}

/** Runs `parseArgs`, turning its errors (an unknown option, a missing value) into usage errors. */
function parseArguments<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')) throw new UsageError(messageOf(error));
    throw error;
  }
}

/** Reads the file of --timeline-file, turning a missing or unreadable file into a usage error that names it. */
async function readTimelineFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'ENOENT') throw new UsageError(`--timeline-file ${JSON.stringify(file)} not found`);
    if (typeof code === 'string') throw new UsageError(`--timeline-file ${JSON.stringify(file)} could not be read: ${messageOf(error)}`);
    throw error;
  }
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
