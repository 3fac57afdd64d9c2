/** Retry with capped exponential backoff and full jitter. */

export interface RetryOptions {
  /** Total attempts, the first included. */
  attempts: number;
  /** Delay cap of the first retry, in milliseconds; each further retry doubles it. */
  baseDelayMs: number;
  /** Upper bound of any single delay, in milliseconds. */
  maxDelayMs: number;
  /** Decides whether an error is worth another attempt. */
  isRetryable: (error: unknown) => boolean;
  /** Called before each wait, for logging. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /** Stops retrying once the next attempt would start after this epoch-millisecond deadline. */
  deadlineMs?: number;
}

/** Runs `operation` until it succeeds, throws an error that is not retryable, or the attempts run out. */
export async function withRetry<T>(operation: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await operation(attempt);
    } catch (error) {
      const delayMs = backoffDelayMs(attempt, options.baseDelayMs, options.maxDelayMs);
      const outOfTime = options.deadlineMs !== undefined && Date.now() + delayMs >= options.deadlineMs;
      if (attempt >= options.attempts || outOfTime || !options.isRetryable(error)) throw error;

      options.onRetry?.(error, attempt, delayMs);
      await sleep(delayMs);
    }
  }
}

/** Full-jitter delay for the retry after `attempt`: a random value up to min(max, base × 2^(attempt-1)). */
export function backoffDelayMs(attempt: number, baseDelayMs: number, maxDelayMs: number): number {
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
  return Math.round(Math.random() * ceiling);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
