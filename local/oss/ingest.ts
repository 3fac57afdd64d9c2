import { createHash } from 'node:crypto';
import { Crc64 } from '../../lib/crc64';
import type { BodyStorage, StoredBody } from './bodies';
import { OssServiceError, ossErrors } from './errors';

/**
 * Thrown when the connection is gone, because a drop fault cut it or the client closed it mid-body.
 * No response can be sent, and nothing was stored.
 */
export class ConnectionClosed extends Error {
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'ConnectionClosed';
  }
}

/** A body that arrived completely, with the checksums OSS returns. */
export interface ReceivedBody {
  body: StoredBody;
  size: number;
  md5: Buffer;
  crc64: string;
}

export interface ReceiveOptions {
  /** Maximum body size in bytes. A longer body fails with EntityTooLarge. */
  maxBytes: number;
  /** Cut the connection once this many bytes have arrived (a drop fault), by calling `dropConnection`. */
  dropAfterBytes?: number;
  dropConnection?: () => void;
  /** Called when `source` ends. False means the client closed the connection before the body was complete. */
  isComplete?: () => boolean;
}

/**
 * Streams `source` into a new body while computing MD5 and CRC-64. The body becomes visible to the caller only
 * when every byte arrived. On any failure the partial bytes are discarded.
 */
export async function receiveBody(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  storage: BodyStorage,
  options: ReceiveOptions,
): Promise<ReceivedBody> {
  const writer = await storage.createWriter();
  const md5 = createHash('md5');
  const crc = new Crc64();
  let size = 0;

  try {
    for await (const chunk of source) {
      if (options.dropAfterBytes !== undefined && size + chunk.length > options.dropAfterBytes) {
        // Discard first, so that the partial body is gone by the time the client sees the connection drop.
        await writer.discard();
        options.dropConnection?.();
        throw new ConnectionClosed(`dropped the connection after ${options.dropAfterBytes} bytes of the request body (fault)`);
      }
      size += chunk.length;
      if (size > options.maxBytes) throw ossErrors.entityTooLarge(options.maxBytes);

      md5.update(chunk);
      crc.update(chunk);
      await writer.write(chunk);
    }
    if (options.isComplete?.() === false) throw new ConnectionClosed('the client closed the connection before the body was complete');
  } catch (error) {
    await writer.discard();
    if (error instanceof ConnectionClosed || error instanceof OssServiceError) throw error;
    throw new ConnectionClosed('the client closed the connection before the body was complete', { cause: error });
  }

  return { body: await writer.complete(), size, md5: md5.digest(), crc64: crc.digest() };
}
