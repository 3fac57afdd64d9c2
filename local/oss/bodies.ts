import { randomUUID } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { copyFile, mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

/** The bytes of one object or part, held by a BodyStorage. */
export interface StoredBody {
  readonly size: number;
}

/** Receives a body chunk by chunk. Nothing is visible until `complete` resolves. */
export interface BodyWriter {
  write(chunk: Uint8Array): Promise<void>;
  complete(): Promise<StoredBody>;
  /** Throws the bytes away. Safe to call more than once and after a failed write. */
  discard(): Promise<void>;
}

/** Storage of object and part bytes: in memory, or in files under a folder for objects too big for the heap. */
export interface BodyStorage {
  createWriter(): Promise<BodyWriter>;
  /** Streams bytes `start` (inclusive) to `end` (exclusive) of a body. */
  read(body: StoredBody, start?: number, end?: number): AsyncIterable<Buffer>;
  /** Returns the whole body at once, for test helpers. A body over 2 GiB does not fit in one Buffer. */
  readAll(body: StoredBody): Buffer;
  /** Returns an independent copy, so that releasing one leaves the other intact. */
  duplicate(body: StoredBody): Promise<StoredBody>;
  release(body: StoredBody): Promise<void>;
  close(): Promise<void>;
}

interface MemoryBody extends StoredBody {
  readonly bytes: Buffer;
}

/** Keeps bodies as Buffers. Bodies are never mutated, so a duplicate shares the same Buffer. */
export class MemoryBodyStorage implements BodyStorage {
  async createWriter(): Promise<BodyWriter> {
    const chunks: Buffer[] = [];
    return {
      write: async (chunk) => {
        chunks.push(Buffer.from(chunk));
      },
      complete: async () => {
        const bytes = Buffer.concat(chunks);
        return { size: bytes.length, bytes } satisfies MemoryBody;
      },
      discard: async () => {
        chunks.length = 0;
      },
    };
  }

  async *read(body: StoredBody, start = 0, end = body.size): AsyncIterable<Buffer> {
    const { bytes } = body as MemoryBody;
    const chunkSize = 64 * 1024;
    for (let offset = start; offset < end; offset += chunkSize) {
      yield bytes.subarray(offset, Math.min(offset + chunkSize, end));
    }
  }

  readAll(body: StoredBody): Buffer {
    return (body as MemoryBody).bytes;
  }

  async duplicate(body: StoredBody): Promise<StoredBody> {
    return body;
  }

  async release(): Promise<void> {}

  async close(): Promise<void> {}
}

interface FileBody extends StoredBody {
  readonly path: string;
}

/**
 * Keeps each body in its own file under `<dataDir>/bodies`. Writers fill a file in `<dataDir>/tmp` and rename
 * it into `bodies` only on `complete`, so an interrupted upload never leaves a partial body in place.
 *
 * NOTE: the index of buckets and objects stays in memory, so objects do not survive a restart, and `close`
 * deletes both folders.
 */
export class FolderBodyStorage implements BodyStorage {
  readonly #bodiesDir: string;
  readonly #tmpDir: string;

  private constructor(dataDir: string) {
    this.#bodiesDir = join(dataDir, 'bodies');
    this.#tmpDir = join(dataDir, 'tmp');
  }

  static async create(dataDir: string): Promise<FolderBodyStorage> {
    const storage = new FolderBodyStorage(dataDir);
    await mkdir(storage.#bodiesDir, { recursive: true });
    await mkdir(storage.#tmpDir, { recursive: true });
    return storage;
  }

  async createWriter(): Promise<BodyWriter> {
    const name = randomUUID();
    const tmpPath = join(this.#tmpDir, name);
    const finalPath = join(this.#bodiesDir, name);
    const file: FileHandle = await open(tmpPath, 'wx');
    let size = 0;
    let closed = false;

    const closeFile = async () => {
      if (closed) return;
      closed = true;
      await file.close();
    };

    return {
      write: async (chunk) => {
        let offset = 0;
        while (offset < chunk.length) {
          const { bytesWritten } = await file.write(chunk, offset, chunk.length - offset);
          offset += bytesWritten;
        }
        size += chunk.length;
      },
      complete: async () => {
        await closeFile();
        await rename(tmpPath, finalPath);
        return { size, path: finalPath } satisfies FileBody;
      },
      discard: async () => {
        await closeFile().catch(() => undefined);
        await rm(tmpPath, { force: true });
      },
    };
  }

  async *read(body: StoredBody, start = 0, end = body.size): AsyncIterable<Buffer> {
    if (end <= start) return;
    const stream = createReadStream((body as FileBody).path, { start, end: end - 1, highWaterMark: 256 * 1024 });
    for await (const chunk of stream) yield chunk as Buffer;
  }

  readAll(body: StoredBody): Buffer {
    return readFileSync((body as FileBody).path);
  }

  async duplicate(body: StoredBody): Promise<StoredBody> {
    const path = join(this.#bodiesDir, randomUUID());
    await copyFile((body as FileBody).path, path);
    const copy: FileBody = { size: body.size, path };
    return copy;
  }

  async release(body: StoredBody): Promise<void> {
    await rm((body as FileBody).path, { force: true });
  }

  async close(): Promise<void> {
    await rm(this.#bodiesDir, { recursive: true, force: true });
    await rm(this.#tmpDir, { recursive: true, force: true });
  }
}
