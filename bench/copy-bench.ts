/**
 * Copies of export zips: the product's worker and the plain-Node baseline, each in a fresh process, against
 * the cloud process. Every copy is checked (size and CRC-64) and deleted afterwards to keep the disk free.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { DESTINATION_BUCKET, EXPORT_BUCKET } from '../local/cloud';
import type { CloudInfo, RoleCredentials } from './cloud-server';
import type { BaselineResult, BaselineTask } from './children/baseline';
import type { CopierResult, CopierTask, CopyPhases } from './children/copier';
import { runTaskProcess, type RpcClient } from './ipc';
import { deleteObject, putObjectStream } from './plain-oss';
import { MiB, formatSize, mibPerSecond, round } from './stats';

/** One measured copy. */
export interface CopyRun {
  /** `product`: the worker streaming the download; `server-side`: the worker allowed to copy inside OSS. */
  kind: 'product' | 'server-side' | 'baseline';
  size: number;
  elapsedMs: number;
  maxRssKiB: number;
  /** CPU time of the copying process, in milliseconds. */
  copierCpuMs: number;
  /** CPU time the cloud process (the emulators) spent during the copy, in milliseconds. */
  cloudCpuMs: number;
  /** Product only: bytes the copier read from OSS connections (source body and OSS responses). */
  bytesFromOss?: number;
  /** GetObject requests OSS served for the source object during this copy. */
  sourceReads: number;
  /** Product only: where the handler's time went. */
  phases?: CopyPhases;
}

/** The cloud process and the paths of the bundled children, as the copy benchmarks use them. */
export interface CopyBench {
  cloud: RpcClient;
  info: CloudInfo;
  copierPath: string;
  baselinePath: string;
  workerPath: string;
}

/** A source object in the export bucket, with the CRC-64 OSS computed when it was stored. */
export interface SourceObject {
  key: string;
  size: number;
  crc64: string;
}

const WORKER_FUNCTION = 'ims-export-sync-worker';
/** The worker's memory and timeout in s.yaml, passed in its context as FC would. */
const WORKER_MEMORY_MB = 2048;
const WORKER_TIMEOUT_SECONDS = 7200;
/** Random bytes repeated to fill a source object; their content does not matter to a byte copy. */
const FILL_POOL_BYTES = 8 * MiB;
const FILL_CHUNK_BYTES = 1 * MiB;

/** Streams `size` bytes into a new source object with a plain PutObject. */
export async function seedSource(bench: CopyBench, size: number): Promise<SourceObject> {
  const key = `bench/source-${randomBytes(8).toString('hex')}.zip`;
  const stored = await putObjectStream(
    { endpoint: bench.info.ossUrl, bucket: EXPORT_BUCKET, key },
    bench.info.userKey,
    Readable.from(fillBytes(size)),
    size,
  );
  return { key, size, crc64: stored.crc64 };
}

export async function removeSource(bench: CopyBench, source: SourceObject): Promise<void> {
  await deleteObject({ endpoint: bench.info.ossUrl, bucket: EXPORT_BUCKET, key: source.key }, bench.info.userKey);
}

/**
 * Copy mode of the product. `download` denies its role reads of the export bucket, so it must stream the
 * presigned ProjectUrl through the function. `server-side` lets it copy inside OSS if it can.
 */
export type ProductMode = 'download' | 'server-side';

/** Syncs a new job whose ProjectUrl points at `source`, through the bundled worker in a fresh process. */
export async function runProductCopy(bench: CopyBench, source: SourceObject, mode: ProductMode): Promise<CopyRun> {
  const jobId = randomBytes(16).toString('hex');
  await bench.cloud.call('createZipJob', { jobId, key: source.key });
  const credentials = await bench.cloud.call<RoleCredentials>('issueRoleCredentials', { readSource: mode === 'server-side' });
  const readsBefore = await bench.cloud.call<number>('countSourceReads', { key: source.key });
  const cloudCpuBefore = await bench.cloud.call<number>('cpuTimeMs');

  const task: CopierTask = {
    workerPath: bench.workerPath,
    // In download mode the product first tries a server-side copy, is denied, and logs a warning before it
    // downloads; only errors are worth showing there.
    env: { ...bench.info.env, LOG_LEVEL: mode === 'download' ? 'error' : 'warn' },
    jobId,
    functionName: WORKER_FUNCTION,
    region: bench.info.region,
    accountId: bench.info.accountId,
    timeoutSeconds: WORKER_TIMEOUT_SECONDS,
    memoryMb: WORKER_MEMORY_MB,
    credentials,
    ossPort: Number(new URL(bench.info.ossUrl).port),
  };
  const result = await runTaskProcess<CopierResult>(bench.copierPath, task);
  const cloudCpuMs = (await bench.cloud.call<number>('cpuTimeMs')) - cloudCpuBefore;
  const sourceReads = (await bench.cloud.call<number>('countSourceReads', { key: source.key })) - readsBefore;
  if (mode === 'download' && sourceReads === 0) {
    throw new Error(`The worker copied ${source.key} without downloading it, though its role may not read the export bucket`);
  }

  const written = checkProductCopy(result, source);
  await deleteObject({ endpoint: bench.info.ossUrl, bucket: DESTINATION_BUCKET, key: written }, bench.info.userKey);
  const kind = mode === 'download' ? 'product' : 'server-side';
  log(`${kind.padEnd(11)} ${formatSize(source.size)}: ${round(mibPerSecond(source.size, result.elapsedMs))} MiB/s, peak RSS ${round(result.maxRssKiB / 1024)} MiB, ${sourceReads} source downloads, Complete ${round(result.phases.completeMs / 1000, 2)} s, ${cpuSummary(result.cpuMs, cloudCpuMs)}`);
  return {
    kind,
    size: source.size,
    elapsedMs: result.elapsedMs,
    maxRssKiB: result.maxRssKiB,
    copierCpuMs: result.cpuMs,
    cloudCpuMs,
    bytesFromOss: result.bytesFromOss,
    sourceReads,
    phases: result.phases,
  };
}

/** Copies `source` with a plain GET piped into a plain PUT, in a fresh process. */
export async function runBaselineCopy(bench: CopyBench, source: SourceObject): Promise<CopyRun> {
  const { projectUrl } = await bench.cloud.call<{ projectUrl: string }>('createZipJob', { jobId: randomBytes(16).toString('hex'), key: source.key });
  const readsBefore = await bench.cloud.call<number>('countSourceReads', { key: source.key });
  const cloudCpuBefore = await bench.cloud.call<number>('cpuTimeMs');
  const destination = { endpoint: bench.info.ossUrl, bucket: DESTINATION_BUCKET, key: `bench-baseline/${randomBytes(8).toString('hex')}.zip` };

  const task: BaselineTask = { projectUrl, destination, key: bench.info.userKey };
  const result = await runTaskProcess<BaselineResult>(bench.baselinePath, task);
  const cloudCpuMs = (await bench.cloud.call<number>('cpuTimeMs')) - cloudCpuBefore;
  const sourceReads = (await bench.cloud.call<number>('countSourceReads', { key: source.key })) - readsBefore;

  if (result.size !== source.size || result.sourceCrc64 !== source.crc64 || result.copyCrc64 !== source.crc64) {
    throw new Error(`Baseline copy of ${source.key} is not intact: ${JSON.stringify(result)}; expected CRC-64 ${source.crc64}`);
  }
  await deleteObject(destination, bench.info.userKey);
  log(`${'baseline'.padEnd(11)} ${formatSize(source.size)}: ${round(mibPerSecond(source.size, result.elapsedMs))} MiB/s, peak RSS ${round(result.maxRssKiB / 1024)} MiB, ${cpuSummary(result.cpuMs, cloudCpuMs)}`);
  return {
    kind: 'baseline',
    size: source.size,
    elapsedMs: result.elapsedMs,
    maxRssKiB: result.maxRssKiB,
    copierCpuMs: result.cpuMs,
    cloudCpuMs,
    sourceReads,
  };
}

/** Returns the key the product wrote, or throws when the outcome is not an intact copy of `source`. */
function checkProductCopy(result: CopierResult, source: SourceObject): string {
  const written = result.outcome.objects?.[0];
  if (result.outcome.outcome !== 'copied' || written === undefined) {
    throw new Error(`The worker did not copy ${source.key}: ${JSON.stringify(result.outcome)}`);
  }
  if (written.size !== source.size || written.crc64 !== source.crc64) {
    throw new Error(`The worker's copy of ${source.key} differs: ${written.size} bytes with CRC-64 ${written.crc64}, expected ${source.size} with ${source.crc64}`);
  }
  return written.key;
}

function* fillBytes(size: number): Generator<Buffer> {
  const pool = randomBytes(FILL_POOL_BYTES);
  for (let offset = 0; offset < size; offset += FILL_CHUNK_BYTES) {
    const start = offset % FILL_POOL_BYTES;
    yield pool.subarray(start, start + Math.min(FILL_CHUNK_BYTES, size - offset));
  }
}

function cpuSummary(copierCpuMs: number, cloudCpuMs: number): string {
  return `CPU ${round(copierCpuMs / 1000, 2)} s copier, ${round(cloudCpuMs / 1000, 2)} s emulators`;
}

function log(line: string): void {
  console.log(`  ${line}`);
}
