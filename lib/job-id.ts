import { SyncError } from './errors';

/**
 * Characters a JobId may contain. Real IDs are 32 hex digits; `*` is allowed because the API reference's
 * samples mask IDs with it. Anything that could change an object key's meaning (`/`, `.`, control
 * characters) is excluded, because the JobId becomes part of every key this product writes.
 */
const JOB_ID = /^[A-Za-z0-9*_-]{1,64}$/;

/** Returns true when `value` is a plain JobId that is safe to put in an object key. */
export function isValidJobId(value: string): boolean {
  return JOB_ID.test(value);
}

/** Throws a `SyncError` naming the value when `value` is not a plain JobId. */
export function checkJobId(value: string): void {
  if (!isValidJobId(value)) {
    throw new InvalidJobIdError(value);
  }
}

export class InvalidJobIdError extends SyncError {
  constructor(value: string) {
    super(`JobId ${JSON.stringify(value.slice(0, 80))} is invalid: expected 1-64 letters, digits, "-", "_" or "*"`);
    this.name = 'InvalidJobIdError';
  }
}
