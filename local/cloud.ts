/**
 * The local cloud: the IMS, OSS and FC emulators started together on free loopback ports, sharing one
 * account whose keys are generated at run time. Tests, the demo and the benchmarks all start it here.
 */
import type { FcContext, FcHttpResponse } from '../lib/fc-types';
import { createLocalContext } from '../lib/fc-types';
import { CredentialStore, type AccessKeyRecord } from './common/credentials';
import { startFcEmulator, type FcEmulator } from './fc';
import { startHttpTrigger, type HttpTrigger } from './fc/http-trigger';
import { startImsEmulator, type ImsEmulator } from './ims';
import { startOssEmulator, type OssEmulator } from './oss';

export const LOCAL_REGION = 'cn-shanghai';
/** The customer's bucket, where the product writes. */
export const DESTINATION_BUCKET = 'customer-exports';
/** The bucket IMS exports Premiere projects to; ProjectUrl points into it. */
export const EXPORT_BUCKET = 'ims-export-output';

export interface LocalCloudOptions {
  /** Keep OSS objects in this folder instead of memory (for multi-GiB benchmarks). */
  ossDataDir?: string;
}

export interface FunctionSettings {
  timeoutSeconds: number;
  memoryMb: number;
}

export interface LocalCloud {
  credentials: CredentialStore;
  accountId: string;
  region: string;
  oss: OssEmulator;
  ims: ImsEmulator;
  fc: FcEmulator;
  /** A long-lived key, as a RAM user's, for the command-line tool. */
  userKey: AccessKeyRecord;
  /** Settings that point the product's functions at the emulators. */
  env(overrides?: Record<string, string>): Record<string, string>;
  /** A context as FC passes it, with fresh STS credentials of the function's role. */
  context(functionName: string, settings?: Partial<FunctionSettings>): FcContext;
  /** Serves `handler` as an FC HTTP trigger on 127.0.0.1. */
  httpTrigger(functionName: string, handler: (event: Buffer, context: FcContext) => Promise<FcHttpResponse>): Promise<HttpTrigger>;
  close(): Promise<void>;
}

/** Starts the three emulators and creates the destination and export buckets. */
export async function startLocalCloud(options: LocalCloudOptions = {}): Promise<LocalCloud> {
  const credentials = new CredentialStore();
  const accountId = String(1_000_000_000_000_000 + Math.floor(Math.random() * 8_999_999_999_999_999)).slice(0, 16);
  const oss = await startOssEmulator({ credentials, ...(options.ossDataDir === undefined ? {} : { dataDir: options.ossDataDir }) });
  const ims = await startImsEmulator({ credentials, objectStore: oss });
  const fc = await startFcEmulator({ credentials, accountId, region: LOCAL_REGION });
  const triggers: HttpTrigger[] = [];
  await oss.createBucket(DESTINATION_BUCKET);
  await oss.createBucket(EXPORT_BUCKET);

  const context = (functionName: string, settings: Partial<FunctionSettings> = {}): FcContext => {
    const role = credentials.issueStsCredentials();
    return createLocalContext({
      functionName,
      timeoutSeconds: settings.timeoutSeconds ?? 600,
      memoryMb: settings.memoryMb ?? 1024,
      credentials: { accessKeyId: role.accessKeyId, accessKeySecret: role.accessKeySecret, securityToken: role.securityToken },
      region: LOCAL_REGION,
      accountId,
    });
  };

  return {
    credentials,
    accountId,
    region: LOCAL_REGION,
    oss,
    ims,
    fc,
    userKey: credentials.createAccessKey(),
    env: (overrides = {}) => ({
      OSS_BUCKET: DESTINATION_BUCKET,
      OSS_REGION: `oss-${LOCAL_REGION}`,
      OSS_ENDPOINT: oss.url,
      IMS_REGION: LOCAL_REGION,
      IMS_ENDPOINT: ims.url,
      FC_ENDPOINT: fc.url,
      SOURCE_HOSTS: '127.0.0.1',
      ...overrides,
    }),
    context,
    httpTrigger: async (functionName, handler) => {
      const trigger = await startHttpTrigger({ handler, createContext: () => context(functionName, { timeoutSeconds: 30 }) });
      triggers.push(trigger);
      return trigger;
    },
    close: async () => {
      await Promise.all(triggers.map((trigger) => trigger.close()));
      await fc.drain();
      await Promise.all([oss.close(), ims.close(), fc.close()]);
    },
  };
}
