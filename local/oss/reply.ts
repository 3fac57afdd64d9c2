import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { Fault } from '../common/faults';
import { renderErrorBody, type OssServiceError } from './errors';

/** A response body streamed from storage. */
export interface StreamedBody {
  size: number;
  chunks: () => AsyncIterable<Buffer>;
}

/** A handler's result: status, headers and an optional body. The server adds the common headers. */
export interface OssReply {
  status: number;
  headers: Record<string, string>;
  body?: Buffer | StreamedBody;
}

export function emptyReply(status: number, headers: Record<string, string> = {}): OssReply {
  return { status, headers };
}

export function xmlReply(xml: string, headers: Record<string, string> = {}, status = 200): OssReply {
  return { status, headers: { 'content-type': 'application/xml', ...headers }, body: Buffer.from(xml, 'utf8') };
}

/**
 * Renders an OSS error. A HEAD response has no body, so OSS sends the same XML base64-encoded in `x-oss-err`,
 * which ali-oss decodes.
 */
export function errorReply(error: OssServiceError, requestId: string, hostId: string, method: string): OssReply {
  const xml = renderErrorBody(error, requestId, hostId);
  const headers = { 'content-type': 'application/xml', 'x-oss-ec': error.ec };
  if (method === 'HEAD') {
    return { status: error.status, headers: { ...headers, 'x-oss-err': Buffer.from(xml, 'utf8').toString('base64') } };
  }
  return { status: error.status, headers, body: Buffer.from(xml, 'utf8') };
}

/** The way a reply ended on the wire. */
export type SendOutcome = 'sent' | 'dropped' | 'client-closed';

/**
 * Writes `reply`, applying a response-side fault: `drop` cuts the connection after `afterBytes` bytes of the
 * body (before the status line when 0), and `truncate` sends only `afterBytes` bytes, without Content-Length,
 * and then ends the response normally.
 */
export async function sendReply(
  response: ServerResponse,
  reply: OssReply,
  fault: Extract<Fault, { kind: 'drop' | 'truncate' }> | undefined,
): Promise<SendOutcome> {
  const size = bodySize(reply.body);
  if (fault?.kind === 'drop' && fault.afterBytes <= 0) {
    response.socket?.destroy();
    return 'dropped';
  }

  for (const [name, value] of Object.entries(reply.headers)) response.setHeader(name, value);
  if (fault?.kind === 'truncate') {
    response.removeHeader('content-length');
  } else if (!response.hasHeader('content-length')) {
    response.setHeader('content-length', String(size));
  }
  response.writeHead(reply.status);

  const limit = fault === undefined ? Number.POSITIVE_INFINITY : fault.afterBytes;
  const closed = once(response, 'close').catch(() => undefined);
  let sent = 0;
  for await (const chunk of bodyChunks(reply.body)) {
    if (response.destroyed) return 'client-closed';
    const piece = chunk.subarray(0, Math.max(0, limit - sent));
    if (piece.length > 0 && !response.write(piece)) await Promise.race([once(response, 'drain'), closed]);
    sent += piece.length;
    if (sent >= limit) break;
  }
  if (response.destroyed) return 'client-closed';

  if (fault?.kind === 'drop') {
    response.socket?.destroy();
    return 'dropped';
  }
  response.end();
  return 'sent';
}

/**
 * Applies a corrupt fault: flips one byte in the middle of a GET body, or, for a reply without body bytes to
 * change (PutObject, UploadPart, HEAD), replaces `x-oss-hash-crc64ecma` with a wrong value.
 */
export function corruptReply(reply: OssReply, operation: string): OssReply {
  const size = bodySize(reply.body);
  const checksum = reply.headers['x-oss-hash-crc64ecma'];
  if ((operation !== 'GetObject' || size === 0) && checksum !== undefined) {
    const wrong = (BigInt(checksum) ^ 1n).toString();
    return { ...reply, headers: { ...reply.headers, 'x-oss-hash-crc64ecma': wrong } };
  }
  if (reply.body === undefined || size === 0) return reply;

  const flipAt = Math.floor(size / 2);
  const source = reply.body;
  return {
    ...reply,
    body: {
      size,
      chunks: async function* () {
        let offset = 0;
        for await (const chunk of bodyChunks(source)) {
          if (flipAt >= offset && flipAt < offset + chunk.length) {
            const copy = Buffer.from(chunk);
            copy[flipAt - offset] = copy[flipAt - offset]! ^ 0xff;
            yield copy;
          } else {
            yield chunk;
          }
          offset += chunk.length;
        }
      },
    },
  };
}

function bodySize(body: OssReply['body']): number {
  if (body === undefined) return 0;
  return Buffer.isBuffer(body) ? body.length : body.size;
}

async function* bodyChunks(body: OssReply['body']): AsyncIterable<Buffer> {
  if (body === undefined) return;
  if (Buffer.isBuffer(body)) {
    yield body;
    return;
  }
  yield* body.chunks();
}
