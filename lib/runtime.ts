import { loadConfig, type Config } from './config';
import { resolveCredentials, type Credentials } from './credentials';
import type { FcContext } from './fc-types';
import type { WorkerDispatcher } from './dispatch';
import { createImsClient, type ImsClient } from './ims';
import { Ledger } from './ledger';
import { createLogger, type Logger } from './log';
import { OssBucket } from './oss';

/** Settings, clients and logger of one invocation. */
export interface Invocation {
  config: Config;
  credentials: Credentials;
  logger: Logger;
  ims: ImsClient;
  bucket: OssBucket;
  ledger: Ledger;
  /** Hand-off to the worker function; undefined when WORKER_FUNCTION is not set (jobs are synced inline). */
  dispatcher: WorkerDispatcher | undefined;
}

let cachedConfig: Config | undefined;

/**
 * Reads the settings once per instance (a bad setting fails every invocation with the same message), and
 * builds the clients with this invocation's credentials, since FC hands each invocation its own STS token.
 */
export function startInvocation(context: FcContext, functionName: string): Invocation {
  const bootstrapLogger = createLogger('info', { function: functionName, request_id: context.requestId });
  try {
    cachedConfig ??= loadConfig(process.env, { region: context.region || undefined, insideFunctionCompute: isInsideFunctionCompute() });
  } catch (error) {
    bootstrapLogger.error('Settings are invalid', { error });
    throw error;
  }

  const config = cachedConfig;
  const logger = createLogger(config.logLevel, { function: functionName, request_id: context.requestId });
  const credentials = resolveCredentials(context.credentials);
  // Read again when OSS reports the credentials expired, in case the runtime has replaced them meanwhile.
  const bucket = new OssBucket(config, () => resolveCredentials(context.credentials));
  return {
    config,
    credentials,
    logger,
    ims: createImsClient(config, credentials, logger),
    bucket,
    ledger: new Ledger(bucket, config.statePrefix),
    dispatcher: config.workerFunction === undefined ? undefined : lazyDispatcher(config, context, credentials, config.workerFunction),
  };
}

/**
 * Creates a dispatcher that loads `@alicloud/fc2` on its first hand-off. The worker never hands off, so its cold
 * start does not pay for loading fc2 and its dependencies.
 */
function lazyDispatcher(config: Config, context: FcContext, credentials: Credentials, functionName: string): WorkerDispatcher {
  let dispatcher: Promise<WorkerDispatcher> | undefined;
  const load = async (): Promise<WorkerDispatcher> => {
    const { createWorkerDispatcher } = await import('./dispatch');
    return createWorkerDispatcher({
      functionName,
      accountId: context.accountId,
      region: context.region || config.imsRegion,
      credentials,
      ...(config.fcEndpoint === undefined ? {} : { endpoint: config.fcEndpoint }),
    });
  };
  return {
    dispatch: async (jobId) => {
      dispatcher ??= load();
      return (await dispatcher).dispatch(jobId);
    },
  };
}

/** Forgets the cached settings, so that tests can change environment variables between invocations. */
export function resetRuntimeCache(): void {
  cachedConfig = undefined;
}

function isInsideFunctionCompute(): boolean {
  // FC sets FC_FUNCTION_NAME (and reserves the FC_ prefix) in every function instance.
  return process.env.FC_FUNCTION_NAME !== undefined;
}
