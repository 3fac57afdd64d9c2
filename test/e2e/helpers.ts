/**
 * Shared setup of the end-to-end tests: the local cloud, the bundled handlers from dist/, and small readers
 * of what landed in the destination bucket.
 */
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FcContext, FcHttpResponse } from '../../lib/fc-types';
import { DESTINATION_BUCKET, type LocalCloud } from '../../local/cloud';
import { listenOnLoopback } from '../../local/common/http';

export type Handler<R = unknown> = (event: Buffer, context: FcContext) => Promise<R>;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Loads a bundled function from dist/<name>/index.js, as FC loads `index.handler`. With `fresh`, the bundle is
 * loaded as a new module instance, so that it reads the settings in `process.env` again.
 */
export function loadBundledHandler<R = unknown>(name: 'worker' | 'callback' | 'poller', options: { fresh?: boolean } = {}): Handler<R> {
  const require = createRequire(import.meta.url);
  const file = require.resolve(path.join(root, 'dist', name, 'index.js'));
  if (options.fresh) delete require.cache[file];
  return (require(file) as { handler: Handler<R> }).handler;
}

export type CallbackHandler = Handler<FcHttpResponse>;

export function jsonEvent(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

/** Keys the product wrote for one job, excluding the ledger. */
export function jobKeys(cloud: LocalCloud, jobId: string): string[] {
  return cloud.oss.listKeys(DESTINATION_BUCKET, `ims-exports/${jobId}/`);
}

export function readObject(cloud: LocalCloud, key: string) {
  return cloud.oss.getObjectDirect(DESTINATION_BUCKET, key);
}

export function readJson<T = Record<string, unknown>>(cloud: LocalCloud, key: string): T {
  const object = readObject(cloud, key);
  if (object === undefined) throw new Error(`no object at ${key}`);
  return JSON.parse(object.body.toString('utf8')) as T;
}

/** Starts an HTTP server on 127.0.0.1 that counts its requests, to show that none were sent to it. */
export async function startCountingServer(): Promise<{ url: string; port: number; requests: () => number; close: () => Promise<void> }> {
  let count = 0;
  const server: Server = createServer((_request, response) => {
    count += 1;
    response.end('unexpected');
  });
  const { url, port } = await listenOnLoopback(server);
  return {
    url,
    port,
    requests: () => count,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
