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
  /**
   * Returns one body made of `bodies` back to back without copying their bytes, as OSS makes a multipart
   * object of its parts. The result takes over the given bodies: releasing it releases them, so they must not
   * be released on their own as well. It holds nothing else, so it needs no release if it is never stored.
   */
  concatenate(bodies: readonly StoredBody[]): StoredBody;
  /** Streams bytes `start` (inclusive) to `end` (exclusive) of a body. */
  read(body: StoredBody, start?: number, end?: number): AsyncIterable<Buffer>;
  /** Returns the whole body at once, for test helpers. A body over 2 GiB does not fit in one Buffer. */
  readAll(body: StoredBody): Buffer;
  /** Returns an independent copy, so that releasing one leaves the other intact. */
  duplicate(body: StoredBody): Promise<StoredBody>;
  release(body: StoredBody): Promise<void>;
  close(): Promise<void>;
}

/** A body made of other bodies back to back. Its segments are plain bodies, never composed ones. */
interface ComposedBody extends StoredBody {
  readonly segments: readonly StoredBody[];
}

/** Bytes `start` (inclusive) to `end` (exclusive) of one plain body. */
interface SegmentSlice {
  segment: StoredBody;
  start: number;
  end: number;
}

function segmentsOf(body: StoredBody): readonly StoredBody[] {
  return 'segments' in body ? (body as ComposedBody).segments : [body];
}

/** Maps bytes `start` to `end` (exclusive) of `body` to slices of its segments, in order, skipping empty ones. */
function slicesOf(body: StoredBody, start: number, end: number): SegmentSlice[] {
  const slices: SegmentSlice[] = [];
  let offset = 0;
  for (const segment of segmentsOf(body)) {
    if (offset >= end) break;
    const sliceStart = Math.max(start - offset, 0);
    const sliceEnd = Math.min(end - offset, segment.size);
    if (sliceStart < sliceEnd) slices.push({ segment, start: sliceStart, end: sliceEnd });
    offset += segment.size;
  }
  return slices;
}

/**
 * Handles composed bodies for both storages, on top of the plain bodies each subclass stores. Concatenation
 * copies no bytes, and reads, copies and releases of a composed body go segment by segment.
 */
abstract class SegmentedBodyStorage implements BodyStorage {
  abstract createWriter(): Promise<BodyWriter>;
  abstract close(): Promise<void>;

  /** Streams bytes `start` (inclusive) to `end` (exclusive) of a plain body. */
  protected abstract readSegment(segment: StoredBody, start: number, end: number): AsyncIterable<Buffer>;
  protected abstract readWholeSegment(segment: StoredBody): Buffer;
  protected abstract duplicateSegment(segment: StoredBody): Promise<StoredBody>;
  protected abstract releaseSegment(segment: StoredBody): Promise<void>;

  /**
   * Keeps `segments` readable until the returned function is called, even when they are released meanwhile.
   * Memory segments stay readable anyway, so the default does nothing.
   */
  protected holdSegments(_segments: readonly StoredBody[]): () => Promise<void> {
    return async () => {};
  }

  concatenate(bodies: readonly StoredBody[]): StoredBody {
    const segments = bodies.flatMap(segmentsOf);
    if (segments.length === 1) return segments[0]!;
    const composed: ComposedBody = { size: segments.reduce((total, segment) => total + segment.size, 0), segments };
    return composed;
  }

  async *read(body: StoredBody, start = 0, end = body.size): AsyncIterable<Buffer> {
    const slices = slicesOf(body, start, end);
    // A delete releases all segments at once, so all of them are held before the first byte. Holding each one
    // only when the read reaches it would let a delete during a long GET remove the later ones.
    const letGo = this.holdSegments(slices.map((slice) => slice.segment));
    try {
      for (const slice of slices) yield* this.readSegment(slice.segment, slice.start, slice.end);
    } finally {
      await letGo();
    }
  }

  readAll(body: StoredBody): Buffer {
    const segments = segmentsOf(body);
    if (segments.length === 1) return this.readWholeSegment(segments[0]!);
    return Buffer.concat(segments.map((segment) => this.readWholeSegment(segment)));
  }

  async duplicate(body: StoredBody): Promise<StoredBody> {
    if (!('segments' in body)) return this.duplicateSegment(body);

    const copies: StoredBody[] = [];
    try {
      for (const segment of segmentsOf(body)) copies.push(await this.duplicateSegment(segment));
    } catch (error) {
      for (const copy of copies) await this.releaseSegment(copy);
      throw error;
    }
    const composed: ComposedBody = { size: body.size, segments: copies };
    return composed;
  }

  async release(body: StoredBody): Promise<void> {
    for (const segment of segmentsOf(body)) await this.releaseSegment(segment);
  }
}

interface MemoryBody extends StoredBody {
  readonly bytes: Buffer;
}

/** Keeps bodies as Buffers. Bodies are never mutated, so a duplicate shares the same Buffers. */
export class MemoryBodyStorage extends SegmentedBodyStorage {
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

  protected async *readSegment(segment: StoredBody, start: number, end: number): AsyncIterable<Buffer> {
    const { bytes } = segment as MemoryBody;
    const chunkSize = 64 * 1024;
    for (let offset = start; offset < end; offset += chunkSize) {
      yield bytes.subarray(offset, Math.min(offset + chunkSize, end));
    }
  }

  protected readWholeSegment(segment: StoredBody): Buffer {
    return (segment as MemoryBody).bytes;
  }

  protected async duplicateSegment(segment: StoredBody): Promise<StoredBody> {
    return segment;
  }

  protected async releaseSegment(): Promise<void> {}

  async close(): Promise<void> {}
}

interface FileBody extends StoredBody {
  readonly path: string;
}

/**
 * Keeps each plain body in its own file under `<dataDir>/bodies`, and a composed body (a completed multipart
 * object) as the files of its parts. Writers fill a file in `<dataDir>/tmp` and rename it into `bodies` only
 * on `complete`, so an interrupted upload never leaves a partial body in place. A file released while a read
 * holds it is deleted when the last such read ends.
 *
 * NOTE: the index of buckets and objects stays in memory, so objects do not survive a restart, and `close`
 * deletes both folders.
 */
export class FolderBodyStorage extends SegmentedBodyStorage {
  readonly #bodiesDir: string;
  readonly #tmpDir: string;
  /** Number of reads in progress by file path. */
  readonly #readsInProgress = new Map<string, number>();
  /** Released files that a read still holds. */
  readonly #releasedWhileRead = new Set<string>();

  private constructor(dataDir: string) {
    super();
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

  protected async *readSegment(segment: StoredBody, start: number, end: number): AsyncIterable<Buffer> {
    const stream = createReadStream((segment as FileBody).path, { start, end: end - 1, highWaterMark: 256 * 1024 });
    for await (const chunk of stream) yield chunk as Buffer;
  }

  protected readWholeSegment(segment: StoredBody): Buffer {
    return readFileSync((segment as FileBody).path);
  }

  protected async duplicateSegment(segment: StoredBody): Promise<StoredBody> {
    const path = join(this.#bodiesDir, randomUUID());
    await copyFile((segment as FileBody).path, path);
    const copy: FileBody = { size: segment.size, path };
    return copy;
  }

  protected async releaseSegment(segment: StoredBody): Promise<void> {
    const { path } = segment as FileBody;
    if (this.#readsInProgress.has(path)) {
      this.#releasedWhileRead.add(path);
      return;
    }
    await rm(path, { force: true });
  }

  // NOTE: a read that a consumer starts and then abandons without finishing or calling `return` keeps its files
  // until `close`. The server's reply loop uses `for await`, which calls `return` when it stops early.
  protected override holdSegments(segments: readonly StoredBody[]): () => Promise<void> {
    const paths = segments.map((segment) => (segment as FileBody).path);
    for (const path of paths) this.#readsInProgress.set(path, (this.#readsInProgress.get(path) ?? 0) + 1);

    return async () => {
      for (const path of paths) {
        const remaining = this.#readsInProgress.get(path)! - 1;
        if (remaining > 0) {
          this.#readsInProgress.set(path, remaining);
          continue;
        }
        this.#readsInProgress.delete(path);
        if (this.#releasedWhileRead.delete(path)) await rm(path, { force: true });
      }
    };
  }

  async close(): Promise<void> {
    await rm(this.#bodiesDir, { recursive: true, force: true });
    await rm(this.#tmpDir, { recursive: true, force: true });
  }
}
