import { OssError } from './errors';
import { isValidJobId } from './job-id';
import type { OssBucket } from './oss';

/**
 * The job ledger: one record per unfinished job, kept in the destination bucket under STATE_PREFIX.
 *
 * Layout:
 *   <STATE_PREFIX>jobs/<JobId>.json                  the record (attempts, times, last outcome)
 *   <STATE_PREFIX>due/<due time, 15 digits ms>_<JobId>  an empty marker per job, named by when it is due
 *
 * ListObjectsV2 returns keys in order, so a timer tick lists markers from the start and stops at the first
 * one that is not yet due: its cost grows with the number of due jobs, not with the number of records.
 *
 * Every change writes the new marker before it removes the old one, so a crash between two requests leaves
 * an extra marker (found stale and removed later) but never a job without one. A marker whose record is
 * missing is adopted by `recordFor`, which re-creates the record; a finished job then syncs as
 * `already-synced` and leaves the ledger again.
 */

export interface LedgerRecord {
  ledgerVersion: 1;
  jobId: string;
  /** Epoch milliseconds when the job first entered the ledger. */
  registeredAtMs: number;
  /** Epoch milliseconds when the job is next due. */
  dueAtMs: number;
  /** Key of the job's current due marker. */
  dueKey: string;
  /** Syncs attempted so far. */
  attempts: number;
  /** Entry point that first registered the job: `callback`, `poller`, `worker` or `cli`. */
  registeredBy: string;
  lastOutcome?: string;
  lastReason?: string;
  lastStatus?: string;
}

export interface DueEntry {
  jobId: string;
  dueKey: string;
  dueAtMs: number;
}

export interface LedgerOptions {
  /** First retry delay in milliseconds; it doubles per attempt up to `maxDelayMs`. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Keys per listing page. */
  pageSize?: number;
  now?: () => number;
}

export interface RescheduleDetails {
  outcome: string;
  reason?: string;
  status?: string;
  /** Due time in epoch milliseconds; default: now plus the backoff for the record's attempts. */
  dueAtMs?: number;
  /** Counts this as an attempt (the default). */
  countAttempt?: boolean;
}

const DUE_TIME_DIGITS = 15;

export class Ledger {
  readonly #bucket: OssBucket;
  readonly #prefix: string;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #pageSize: number;
  readonly #now: () => number;

  constructor(bucket: OssBucket, statePrefix: string, options: LedgerOptions = {}) {
    this.#bucket = bucket;
    this.#prefix = statePrefix;
    this.#baseDelayMs = options.baseDelayMs ?? 30_000;
    this.#maxDelayMs = options.maxDelayMs ?? 10 * 60_000;
    this.#pageSize = options.pageSize ?? 100;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Adds a job due at `dueAtMs` (default now). A job already in the ledger keeps its record. With
   * `dueNow` its due time is moved up to now, for a callback reporting that the job may have finished.
   */
  async register(jobId: string, options: { registeredBy: string; dueAtMs?: number; dueNow?: boolean }): Promise<LedgerRecord> {
    const existing = await this.get(jobId);
    if (existing !== undefined) {
      return options.dueNow && existing.dueAtMs > this.#now()
        ? this.reschedule(existing, { outcome: existing.lastOutcome ?? 'registered', dueAtMs: this.#now(), countAttempt: false })
        : existing;
    }

    const now = this.#now();
    const dueAtMs = options.dueAtMs ?? now;
    const record: LedgerRecord = {
      ledgerVersion: 1,
      jobId,
      registeredAtMs: now,
      dueAtMs,
      dueKey: this.dueKey(jobId, dueAtMs),
      attempts: 0,
      registeredBy: options.registeredBy,
    };
    await this.#putMarker(record.dueKey);
    try {
      await this.#putRecord(record, { forbidOverwrite: true });
      return record;
    } catch (error) {
      if (!(error instanceof OssError && error.code === 'FileAlreadyExists')) throw error;
      // Another caller registered the job between the read and the write, so theirs is the record. A record
      // that is gone again means the job finished in between, and this marker is not needed either. One that
      // cannot be parsed keeps the marker, so that a tick adopts the job and rewrites the record.
      const { exists, record: winner } = await this.#read(jobId);
      const markerNeeded = exists && (winner === undefined || winner.dueKey === record.dueKey);
      if (!markerNeeded) await this.#bucket.delete(record.dueKey);
      return winner ?? record;
    }
  }

  /** Reads a job's record; returns undefined when there is none or it is not valid JSON. */
  async get(jobId: string): Promise<LedgerRecord | undefined> {
    return (await this.#read(jobId)).record;
  }

  async #read(jobId: string): Promise<{ exists: boolean; record: LedgerRecord | undefined }> {
    const text = await this.#bucket.getText(this.recordKey(jobId));
    if (text === undefined) return { exists: false, record: undefined };
    try {
      return { exists: true, record: JSON.parse(text) as LedgerRecord };
    } catch {
      return { exists: true, record: undefined };
    }
  }

  /**
   * Lists up to `limit` due markers, earliest first, reading listing pages only until the first marker
   * that is not yet due.
   */
  async listDue(limit: number): Promise<DueEntry[]> {
    const now = this.#now();
    const due: DueEntry[] = [];
    let continuationToken: string | undefined;

    do {
      const page = await this.#bucket.listPage(`${this.#prefix}due/`, { maxKeys: this.#pageSize, continuationToken });
      for (const key of page.keys) {
        const entry = this.parseDueKey(key);
        if (entry === undefined) continue;
        if (entry.dueAtMs > now || due.length >= limit) return due;
        due.push(entry);
      }
      continuationToken = page.nextContinuationToken;
    } while (continuationToken !== undefined);
    return due;
  }

  /**
   * Returns the record a due marker belongs to. A marker that is not the record's current one is stale and
   * removed (undefined is returned); a marker without a record is adopted.
   */
  async recordFor(entry: DueEntry): Promise<LedgerRecord | undefined> {
    const record = await this.get(entry.jobId);
    if (record === undefined) {
      const adopted: LedgerRecord = {
        ledgerVersion: 1,
        jobId: entry.jobId,
        registeredAtMs: entry.dueAtMs,
        dueAtMs: entry.dueAtMs,
        dueKey: entry.dueKey,
        attempts: 0,
        registeredBy: 'ledger',
      };
      await this.#putRecord(adopted, { forbidOverwrite: false });
      return adopted;
    }
    if (record.dueKey !== entry.dueKey) {
      await this.#bucket.delete(entry.dueKey);
      return undefined;
    }
    return record;
  }

  /** Moves a job to its next due time (backoff by attempts unless `dueAtMs` is given) and records the outcome. */
  async reschedule(record: LedgerRecord, details: RescheduleDetails): Promise<LedgerRecord> {
    const attempts = details.countAttempt === false ? record.attempts : record.attempts + 1;
    const dueAtMs = details.dueAtMs ?? this.#now() + this.backoffMs(attempts);
    const next: LedgerRecord = {
      ...record,
      attempts,
      dueAtMs,
      dueKey: this.dueKey(record.jobId, dueAtMs),
      lastOutcome: details.outcome,
      ...(details.reason === undefined ? {} : { lastReason: details.reason }),
      ...(details.status === undefined ? {} : { lastStatus: details.status }),
    };
    if (next.dueKey === record.dueKey) {
      await this.#putRecord(next, { forbidOverwrite: false });
      return next;
    }

    await this.#putMarker(next.dueKey);
    await this.#putRecord(next, { forbidOverwrite: false });
    await this.#bucket.delete(record.dueKey);
    return next;
  }

  /** Removes a finished job: the record first, then its marker, so that a crash leaves only a marker to adopt. */
  async markDone(jobId: string): Promise<void> {
    const record = await this.get(jobId);
    if (record === undefined) return;
    await this.#bucket.delete(this.recordKey(jobId));
    await this.#bucket.delete(record.dueKey);
  }

  /** True when the job has been in the ledger for longer than `maxAgeHours`. */
  isExpired(record: LedgerRecord, maxAgeHours: number): boolean {
    return this.#now() - record.registeredAtMs > maxAgeHours * 3_600_000;
  }

  /** Delay before the next attempt: base × 2^(attempts-1), capped, with ±20 % jitter so jobs spread out. */
  backoffMs(attempts: number): number {
    const delay = Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** Math.max(0, attempts - 1));
    return Math.round(delay * (0.8 + Math.random() * 0.4));
  }

  recordKey(jobId: string): string {
    return `${this.#prefix}jobs/${jobId}.json`;
  }

  dueKey(jobId: string, dueAtMs: number): string {
    return `${this.#prefix}due/${String(Math.max(0, Math.floor(dueAtMs))).padStart(DUE_TIME_DIGITS, '0')}_${jobId}`;
  }

  /** Reads a due marker's key; returns undefined for a key that is not a marker of a plain JobId. */
  parseDueKey(key: string): DueEntry | undefined {
    const name = key.slice(`${this.#prefix}due/`.length);
    const match = /^(\d{15})_(.+)$/.exec(name);
    // A JobId that is not plain could never sync, so its marker would come up as due on every tick.
    if (match === null || !isValidJobId(match[2]!)) return undefined;
    return { jobId: match[2]!, dueKey: key, dueAtMs: Number(match[1]) };
  }

  async #putMarker(key: string): Promise<void> {
    await this.#bucket.putBuffer(key, Buffer.alloc(0), { contentType: 'application/octet-stream' });
  }

  async #putRecord(record: LedgerRecord, options: { forbidOverwrite: boolean }): Promise<void> {
    await this.#bucket.putBuffer(this.recordKey(record.jobId), Buffer.from(JSON.stringify(record)), {
      contentType: 'application/json',
      meta: { 'ims-job-id': record.jobId },
      forbidOverwrite: options.forbidOverwrite,
    });
  }
}
