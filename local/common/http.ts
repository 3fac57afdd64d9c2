import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as an emulator saw it, kept so that tests can count and inspect calls. */
export interface RecordedRequest {
  method: string;
  path: string;
  operation: string;
  status: number;
  /** Epoch milliseconds when the request arrived. */
  atMs: number;
  /** Emulator-specific details, such as the bucket and key or the invocation type. */
  detail?: Record<string, unknown>;
}

/** Requests seen by one emulator, in arrival order. */
export class RequestLog {
  readonly entries: RecordedRequest[] = [];

  record(entry: RecordedRequest): void {
    this.entries.push(entry);
  }

  /** Counts the requests for one operation, or all requests when `operation` is omitted. */
  count(operation?: string): number {
    if (operation === undefined) return this.entries.length;
    return this.entries.filter((entry) => entry.operation === operation).length;
  }

  clear(): void {
    this.entries.length = 0;
  }
}

/** Starts `server` on 127.0.0.1 (a free port unless `port` is given) and returns its base URL. */
export async function listenOnLoopback(server: Server, port = 0): Promise<{ port: number; url: string }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  return { port: address.port, url: `http://127.0.0.1:${address.port}` };
}

/** Stops `server`, closing idle and active keep-alive connections so that tests end promptly. */
export async function closeServer(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}

/** Reads a whole request body, failing once it is larger than `maxBytes`. */
export async function readBody(request: IncomingMessage, maxBytes = 64 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of request) {
    const buffer = chunk as Buffer;
    total += buffer.length;
    if (total > maxBytes) throw new Error(`request body is larger than ${maxBytes} bytes`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

/** Returns one header value; a repeated header yields its first value. */
export function headerValue(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
