/**
 * One copy by the product: loads the bundled worker from dist/ and syncs one job, then reports the
 * process's peak RSS, the handler's elapsed time and the bytes the process received over TCP.
 *
 * Forked by `bench/run.ts` with plain `node` after esbuild bundled this file, so that nothing but Node, the
 * worker bundle and this small driver adds to the RSS measured.
 */
import { subscribe } from 'node:diagnostics_channel';
import { createRequire } from 'node:module';
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { createLocalContext, type FcContext, type FcCredentials } from '../../lib/fc-types';
import { runTask } from '../ipc';

export interface CopierTask {
  /** Absolute path of dist/worker/index.js. */
  workerPath: string;
  /** Settings of the worker function. */
  env: Record<string, string>;
  jobId: string;
  functionName: string;
  region: string;
  accountId: string;
  timeoutSeconds: number;
  memoryMb: number;
  credentials: FcCredentials;
  /** Port of the OSS endpoint, to count the bytes received from it. */
  ossPort: number;
}

/** Time the handler spent in phases of the copy, taken from the HTTP requests it made. */
export interface CopyPhases {
  /** Time spent in CompleteMultipartUpload requests, in milliseconds. */
  completeMs: number;
}

export interface CopierResult {
  outcome: { outcome: string; objects?: { key: string; size: number; crc64: string }[]; reason?: string; message?: string };
  elapsedMs: number;
  /** `process.resourceUsage().maxRSS`, in KiB. */
  maxRssKiB: number;
  /** User plus system CPU time of the whole process, in milliseconds. */
  cpuMs: number;
  /** Bytes read from TCP connections to the OSS endpoint: source bodies plus OSS's responses. */
  bytesFromOss: number;
  phases: CopyPhases;
}

interface TimedRequest {
  method: string;
  path: string;
  startMs: number;
  endMs: number | undefined;
}

type WorkerHandler = (event: Buffer, context: FcContext) => Promise<CopierResult['outcome']>;

/** Every TCP client socket this process opens, with the peer port it connected to. */
const sockets = new Map<Socket, number | undefined>();
subscribe('net.client.socket', (message) => {
  const socket = (message as { socket: Socket }).socket;
  sockets.set(socket, undefined);
  socket.once('connect', () => sockets.set(socket, socket.remotePort));
});

/** Every HTTP request this process sends, timed from its start until its response body ended. */
const requests: TimedRequest[] = [];
const requestTimes = new WeakMap<object, TimedRequest>();
subscribe('http.client.request.start', (message) => {
  const { request } = message as { request: ClientRequest };
  const timed: TimedRequest = { method: request.method, path: request.path, startMs: performance.now(), endMs: undefined };
  requests.push(timed);
  requestTimes.set(request, timed);
});
subscribe('http.client.response.finish', (message) => {
  const { request, response } = message as { request: ClientRequest; response: IncomingMessage };
  const timed = requestTimes.get(request);
  if (timed !== undefined) response.once('end', () => (timed.endMs = performance.now()));
});

runTask<CopierTask, CopierResult>(async (task) => {
  Object.assign(process.env, task.env);
  // An absolute path resolves the same from any base; the bundle is loaded as FC loads `index.handler`.
  const handler = (createRequire(task.workerPath)(task.workerPath) as { handler: WorkerHandler }).handler;
  const context = createLocalContext({
    functionName: task.functionName,
    timeoutSeconds: task.timeoutSeconds,
    memoryMb: task.memoryMb,
    credentials: task.credentials,
    region: task.region,
    accountId: task.accountId,
    writeLog: (line) => process.stderr.write(`${line}\n`),
  });

  const startedAt = performance.now();
  const outcome = await handler(Buffer.from(JSON.stringify({ jobId: task.jobId })), context);
  const elapsedMs = performance.now() - startedAt;

  let bytesFromOss = 0;
  for (const [socket, peerPort] of sockets) {
    if (peerPort === task.ossPort) bytesFromOss += socket.bytesRead;
  }
  const usage = process.resourceUsage();
  const cpuMs = (usage.userCPUTime + usage.systemCPUTime) / 1000;
  return { outcome, elapsedMs, maxRssKiB: usage.maxRSS, cpuMs, bytesFromOss, phases: summarisePhases() };
});

function summarisePhases(): CopyPhases {
  const duration = (request: TimedRequest) => (request.endMs ?? request.startMs) - request.startMs;
  // CompleteMultipartUpload is `POST /<bucket>/<key>?uploadId=...`; InitiateMultipartUpload is `POST ...?uploads`.
  const completes = requests.filter((request) => request.method === 'POST' && /[?&]uploadId=/.test(request.path));
  return {
    completeMs: completes.reduce((total, request) => total + duration(request), 0),
  };
}
