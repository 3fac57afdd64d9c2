/**
 * The baseline copy: `http.get` of the presigned ProjectUrl piped into one `http.request` PUT to the same
 * OSS endpoint, with no SDK, no checksum computed in the process and no multipart upload. It is the
 * fastest and leanest way Node can move the bytes, so the product's copy is measured against it.
 *
 * Forked by `bench/run.ts` with plain `node` after esbuild bundled this file.
 */
import http, { type IncomingMessage } from 'node:http';
import { runTask } from '../ipc';
import { putObjectStream, type AccessKey, type ObjectAddress } from '../plain-oss';

export interface BaselineTask {
  projectUrl: string;
  destination: ObjectAddress;
  key: AccessKey;
}

export interface BaselineResult {
  size: number;
  /** CRC-64 the source announced, and the one OSS computed for the copy; equal when the copy is intact. */
  sourceCrc64: string;
  copyCrc64: string;
  elapsedMs: number;
  /** `process.resourceUsage().maxRSS`, in KiB. */
  maxRssKiB: number;
  /** User plus system CPU time of the whole process, in milliseconds. */
  cpuMs: number;
}

runTask<BaselineTask, BaselineResult>(async (task) => {
  const startedAt = performance.now();
  const source = await new Promise<IncomingMessage>((resolve, reject) => {
    http.get(task.projectUrl, resolve).once('error', reject);
  });
  if (source.statusCode !== 200) throw new Error(`GET of the ProjectUrl failed with HTTP ${source.statusCode}`);

  const size = Number(source.headers['content-length']);
  const copy = await putObjectStream(task.destination, task.key, source, size);
  const elapsedMs = performance.now() - startedAt;
  const usage = process.resourceUsage();

  return {
    size,
    sourceCrc64: String(source.headers['x-oss-hash-crc64ecma'] ?? ''),
    copyCrc64: copy.crc64,
    elapsedMs,
    maxRssKiB: usage.maxRSS,
    cpuMs: (usage.userCPUTime + usage.systemCPUTime) / 1000,
  };
});
