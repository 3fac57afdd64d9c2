/**
 * The local cloud in a process of its own, so that the processes `bench/run.ts` measures hold only the copy.
 *
 * Started by `bench/run.ts` with `node --import tsx bench/cloud-server.ts <ossDataDir>` and an IPC channel.
 * OSS keeps object bytes in files under `<ossDataDir>`. The `ready` message carries the endpoints and the
 * generated keys; they travel only over the IPC channel. The IMS emulator's job API and the callback
 * trigger live in this process, so the parent reaches them through the requests below.
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type { FcContext, FcHttpResponse } from '../lib/fc-types';
import { EXPORT_BUCKET, startLocalCloud, type LocalCloud } from '../local/cloud';
import { serveRequests } from './ipc';
import type { AccessKey } from './plain-oss';

/** Lifetime of the ProjectUrl of a benchmark job: long enough for a 4 GiB copy on a slow machine. */
const PROJECT_URL_LIFETIME_SECONDS = 6 * 3600;
/** STS credentials handed to the copier; the product reads them once per invocation. */
const ROLE_CREDENTIALS_TTL_MS = 6 * 3600 * 1000;
const WORKER_FUNCTION = 'ims-export-sync-worker';

/** Endpoints and keys sent to the parent once the cloud is up. */
export interface CloudInfo {
  ossUrl: string;
  accountId: string;
  region: string;
  /** Settings that point the product's functions at this cloud. */
  env: Record<string, string>;
  /** A long-lived key of the account, for the baseline and for seeding source objects. */
  userKey: AccessKey;
}

export interface RoleCredentials extends AccessKey {
  securityToken: string;
}

export interface CallbackTarget {
  /** URL to POST callbacks to; also the URL IMS signs. */
  url: string;
  authKey: string;
}

async function main(): Promise<void> {
  const ossDataDir = process.argv[2];
  if (ossDataDir === undefined) throw new Error('usage: cloud-server.ts <ossDataDir>');

  const cloud = await startLocalCloud({ ossDataDir });
  const info: CloudInfo = {
    ossUrl: cloud.oss.url,
    accountId: cloud.accountId,
    region: cloud.region,
    env: cloud.env(),
    userKey: { accessKeyId: cloud.userKey.accessKeyId, accessKeySecret: cloud.userKey.accessKeySecret },
  };

  serveRequests(info, {
    createZipJob: async (params: { jobId: string; key: string }) => createZipJob(cloud, params),
    issueRoleCredentials: async (params: { readSource: boolean }) => issueRoleCredentials(cloud, params.readSource),
    startCallbackTarget: async (params: { callbackPath: string }) => startCallbackTarget(cloud, params.callbackPath),
    cpuTimeMs: async () => cpuTimeMs(),
    countSourceReads: async (params: { key: string }) => countSourceReads(cloud, params.key),
    close: async () => {
      await cloud.close();
      setImmediate(() => process.exit(0));
      return true;
    },
  });
}

/**
 * Creates a finished AdobePremierePro job whose ProjectUrl is a presigned URL of `key` in the export bucket.
 * The object must already be there: the parent streams it in, since `putObjectDirect` takes one Buffer.
 */
function createZipJob(cloud: LocalCloud, params: { jobId: string; key: string }): { projectUrl: string } {
  const signer = cloud.credentials.createAccessKey();
  const projectUrl = cloud.oss.presignUrl(EXPORT_BUCKET, params.key, { expiresInSeconds: PROJECT_URL_LIFETIME_SECONDS, credentials: signer });
  const rawBody = JSON.stringify({
    RequestId: randomBytes(16).toString('hex'),
    ProjectExportJob: {
      JobId: params.jobId,
      ProjectId: randomBytes(16).toString('hex'),
      ExportType: 'AdobePremierePro',
      Status: 'Success',
      ExportResult: { ProjectUrl: projectUrl },
    },
  });
  cloud.ims.createJob({ jobId: params.jobId, rawBody });
  return { projectUrl };
}

/**
 * Issues STS credentials for one copier. Unless `readSource` is true, OSS denies them reads of the export
 * bucket, as for a role without access to it: the product can then only download the presigned ProjectUrl.
 */
function issueRoleCredentials(cloud: LocalCloud, readSource: boolean): RoleCredentials {
  const role = cloud.credentials.issueStsCredentials(ROLE_CREDENTIALS_TTL_MS);
  if (!readSource) cloud.oss.denyRead(EXPORT_BUCKET, role.accessKeyId);
  return { accessKeyId: role.accessKeyId, accessKeySecret: role.accessKeySecret, securityToken: role.securityToken };
}

/**
 * Serves the bundled callback function at `callbackPath` behind an FC HTTP trigger, with WORKER_FUNCTION set
 * as deployed.
 * The worker registered with the FC emulator only records the hand-off, so the response time measured is the
 * callback's own (ledger write and asynchronous invoke), not a copy competing for this process's CPU.
 */
async function startCallbackTarget(cloud: LocalCloud, callbackPath: string): Promise<CallbackTarget> {
  const require = createRequire(import.meta.url);
  const callback = (require(callbackPath) as { handler: (event: Buffer, context: FcContext) => Promise<FcHttpResponse> }).handler;
  const trigger = await cloud.httpTrigger('ims-export-sync-callback', callback);
  const url = `${trigger.url}/callback`;
  const authKey = randomBytes(12).toString('base64url');

  // The callback reads its settings from this process's environment on its first invocation.
  Object.assign(process.env, cloud.env({ CALLBACK_AUTH_KEYS: authKey, CALLBACK_URL: url, WORKER_FUNCTION, LOG_LEVEL: 'warn' }));
  cloud.fc.register(WORKER_FUNCTION, async () => ({ outcome: 'handed-off' }), { timeoutSeconds: 600 });
  return { url, authKey };
}

/** Counts the GetObject requests OSS served for `key` in the export bucket: downloads of the source. */
function countSourceReads(cloud: LocalCloud, key: string): number {
  return cloud.oss.requests.entries.filter(
    (entry) => entry.operation === 'GetObject' && entry.detail?.bucket === EXPORT_BUCKET && entry.detail?.key === key,
  ).length;
}

/** User plus system CPU time this process has used so far, in milliseconds. */
function cpuTimeMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
