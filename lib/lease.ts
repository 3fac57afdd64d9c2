import { randomBytes } from 'node:crypto';
import { OssError } from './errors';
import type { Logger } from './log';
import type { OssBucket } from './oss';

/**
 * A lease on one job, so that concurrent runs (duplicate callbacks, FC's at-least-once async delivery,
 * overlapping timer ticks) download and upload an export once.
 *
 * OSS has no conditional delete, so an expired lease cannot be taken over safely by deleting it. Instead
 * time is cut into windows of `durationMs`, and holding the lease for a window means having created
 * `<STATE_PREFIX>leases/<JobId>/<window>` with `x-oss-forbid-overwrite`: of concurrent runs exactly one
 * succeeds. The holder claims the next window before the current one ends, so a live holder keeps the lease,
 * while a crashed one loses it at the end of its window and the next run takes over.
 */
export class JobLease {
  readonly #bucket: OssBucket;
  readonly #prefix: string;
  readonly #durationMs: number;
  readonly #holder: string;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #claimed = new Set<string>();
  #renewTimer: NodeJS.Timeout | undefined;

  constructor(options: { bucket: OssBucket; statePrefix: string; jobId: string; durationMs: number; logger: Logger; now?: () => number }) {
    this.#bucket = options.bucket;
    this.#prefix = `${options.statePrefix}leases/${options.jobId}/`;
    this.#durationMs = options.durationMs;
    this.#holder = randomBytes(8).toString('hex');
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
  }

  /** Takes the lease for the current window; false when another run holds it. Renews it until `release`. */
  async acquire(): Promise<boolean> {
    const window = this.#windowAt(this.#now());
    if (!(await this.#claim(window))) return false;
    // The next window too, so that the lease holds for at least one full window from now.
    if (!(await this.#claim(window + 1))) {
      await this.release();
      return false;
    }

    // Claim the next window once half of this one has passed, and keep doing so while the work runs.
    const renewEveryMs = Math.max(1_000, Math.floor(this.#durationMs / 2));
    this.#renewTimer = setInterval(() => void this.#renew(), renewEveryMs);
    this.#renewTimer.unref();
    return true;
  }

  /**
   * Stops renewing and removes the window objects this run created.
   * NOTE: objects of runs that crashed stay behind (a few bytes each); a lifecycle rule that expires
   * `<STATE_PREFIX>leases/` after a day removes them.
   */
  async release(): Promise<void> {
    clearInterval(this.#renewTimer);
    this.#renewTimer = undefined;
    for (const key of this.#claimed) await this.#bucket.delete(key);
    this.#claimed.clear();
  }

  async #renew(): Promise<void> {
    const next = this.#windowAt(this.#now()) + 1;
    try {
      if (!(await this.#claim(next))) this.#logger.warn('Lease renewal found another holder', { lease_window: next });
    } catch (error) {
      this.#logger.warn('Lease renewal failed; will try again', { lease_window: next, error });
    }
  }

  /** Creates the object of `window`; true when this run created it, now or earlier. */
  async #claim(window: number): Promise<boolean> {
    const key = `${this.#prefix}${window}`;
    if (this.#claimed.has(key)) return true;
    const body = Buffer.from(JSON.stringify({ holder: this.#holder, windowStartMs: window * this.#durationMs, durationMs: this.#durationMs }));
    try {
      await this.#bucket.putBuffer(key, body, { contentType: 'application/json', forbidOverwrite: true });
    } catch (error) {
      if (!(error instanceof OssError && error.code === 'FileAlreadyExists')) throw error;
      // A retried PUT whose first response was lost also ends here: the object is then this run's own.
      const existing = await this.#bucket.getText(key);
      if (existing === undefined || !existing.includes(`"holder":"${this.#holder}"`)) return false;
    }
    this.#claimed.add(key);
    return true;
  }

  #windowAt(timeMs: number): number {
    return Math.floor(timeMs / this.#durationMs);
  }
}
