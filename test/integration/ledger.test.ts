import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Ledger, type LedgerOptions } from '../../lib/ledger';
import { OssBucket } from '../../lib/oss';
import { CredentialStore } from '../../local/common/credentials';
import { startOssEmulator, type OssEmulator } from '../../local/oss';

const BUCKET = 'ledger-test';
const BASE_DELAY_MS = 30_000;
const MAX_DELAY_MS = 600_000;

let oss: OssEmulator;
let bucket: OssBucket;
let prefix: string;
let prefixCount = 0;

/** Creates a ledger under this test's prefix, with a clock the test sets. */
function ledgerAt(clock: { now: number }, options: LedgerOptions = {}): Ledger {
  return new Ledger(bucket, prefix, { now: () => clock.now, ...options });
}

function markers(): string[] {
  return oss.listKeys(BUCKET, `${prefix}due/`);
}

function records(): string[] {
  return oss.listKeys(BUCKET, `${prefix}jobs/`);
}

function listRequests(): number {
  return oss.requests.entries.filter((entry) => entry.operation === 'ListObjectsV2').length;
}

beforeAll(async () => {
  const credentials = new CredentialStore();
  oss = await startOssEmulator({ credentials });
  oss.createBucket(BUCKET);
  const key = credentials.createAccessKey();
  bucket = new OssBucket(
    { ossBucket: BUCKET, ossRegion: 'oss-cn-shanghai', ossEndpoint: oss.url, ossInternal: false },
    { accessKeyId: key.accessKeyId, accessKeySecret: key.accessKeySecret },
  );
});

afterAll(async () => {
  await oss.close();
});

beforeEach(() => {
  prefixCount += 1;
  prefix = `state-${prefixCount}/`;
  oss.faults.clear();
});

describe('Ledger.register', () => {
  it('writes one record and one due marker', async () => {
    const clock = { now: 1_700_000_000_000 };
    const ledger = ledgerAt(clock);

    const record = await ledger.register('job-a', { registeredBy: 'callback' });

    expect(record).toMatchObject({ jobId: 'job-a', dueAtMs: clock.now, attempts: 0, registeredBy: 'callback' });
    expect(records()).toEqual([ledger.recordKey('job-a')]);
    expect(markers()).toEqual([ledger.dueKey('job-a', clock.now)]);
    expect(await ledger.get('job-a')).toEqual(record);
  });

  it('keeps one record under 20 concurrent calls', async () => {
    const ledger = new Ledger(bucket, prefix);
    const base = Date.now();

    // Each caller asks for a different due time, so each writes its own marker before the race is decided.
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, index) => ledger.register('job-race', { registeredBy: 'callback', dueAtMs: base + index })),
    );

    const stored = await ledger.get('job-race');
    expect(records()).toEqual([ledger.recordKey('job-race')]);
    expect(markers()).toEqual([stored!.dueKey]);
    expect(new Set(results.map((result) => result.dueKey))).toEqual(new Set([stored!.dueKey]));
  });

  it('keeps an existing record', async () => {
    const clock = { now: 1_700_000_000_000 };
    const ledger = ledgerAt(clock);
    const first = await ledger.register('job-b', { registeredBy: 'callback', dueAtMs: clock.now + 60_000 });
    clock.now += 1_000;

    const second = await ledger.register('job-b', { registeredBy: 'poller' });

    expect(second).toEqual(first);
    expect(markers()).toEqual([first.dueKey]);
  });

  it('moves a later due time up with dueNow', async () => {
    const clock = { now: 1_700_000_000_000 };
    const ledger = ledgerAt(clock);
    const first = await ledger.register('job-c', { registeredBy: 'callback', dueAtMs: clock.now + 60_000 });
    clock.now += 1_000;

    const moved = await ledger.register('job-c', { registeredBy: 'poller', dueNow: true });

    expect(moved.dueAtMs).toBe(clock.now);
    expect(moved.attempts).toBe(first.attempts);
    expect(moved.registeredAtMs).toBe(first.registeredAtMs);
    expect(markers()).toEqual([ledger.dueKey('job-c', clock.now)]);
  });

  it('removes its marker when the winning record is gone', async () => {
    const clock = { now: 1_700_000_000_000 };
    const ledger = ledgerAt(clock);
    const winner = await ledger.register('job-gone', { registeredBy: 'callback' });
    // The record reads as missing twice: before the write (so this caller writes a marker) and after the
    // write failed with FileAlreadyExists, as when the winner's job finished and left the ledger in between.
    const recordKey = ledger.recordKey('job-gone');
    oss.faults.add(
      { kind: 'error', status: 404, code: 'NoSuchKey' },
      { times: 2, match: (request) => request.operation === 'GetObject' && request.path.endsWith(recordKey) },
    );
    clock.now += 5_000;

    await ledger.register('job-gone', { registeredBy: 'callback' });

    expect(markers()).toEqual([winner.dueKey]);
  });

  it('keeps its marker when the record is unreadable', async () => {
    const clock = { now: 1_700_000_000_000 };
    const ledger = ledgerAt(clock);
    await oss.putObjectDirect(BUCKET, ledger.recordKey('job-corrupt'), Buffer.from('{"ledgerVersion": 1, "jobId'));

    await ledger.register('job-corrupt', { registeredBy: 'callback' });
    const [entry] = await ledger.listDue(10);
    const adopted = await ledger.recordFor(entry!);

    expect(markers()).toEqual([ledger.dueKey('job-corrupt', clock.now)]);
    expect(adopted).toMatchObject({ jobId: 'job-corrupt', dueKey: ledger.dueKey('job-corrupt', clock.now) });
    expect(await ledger.get('job-corrupt')).toEqual(adopted);
  });
});

describe('Ledger.listDue', () => {
  it('lists due jobs earliest first', async () => {
    const clock = { now: 1_700_000_000_000 };
    const ledger = ledgerAt(clock);
    await ledger.register('job-late', { registeredBy: 'cli', dueAtMs: clock.now - 1_000 });
    await ledger.register('job-early', { registeredBy: 'cli', dueAtMs: clock.now - 3_000 });
    await ledger.register('job-middle', { registeredBy: 'cli', dueAtMs: clock.now - 2_000 });
    await ledger.register('job-future', { registeredBy: 'cli', dueAtMs: clock.now + 1_000 });

    const due = await ledger.listDue(10);

    expect(due.map((entry) => entry.jobId)).toEqual(['job-early', 'job-middle', 'job-late']);
    expect(due[0]).toEqual({ jobId: 'job-early', dueAtMs: clock.now - 3_000, dueKey: ledger.dueKey('job-early', clock.now - 3_000) });
  });

  it('stops reading pages at the first job not due', async () => {
    const clock = { now: 1_700_000_000_000 };
    const ledger = ledgerAt(clock, { pageSize: 2 });
    for (let index = 0; index < 3; index += 1) {
      await ledger.register(`job-due-${index}`, { registeredBy: 'cli', dueAtMs: clock.now - 10_000 + index });
    }
    for (let index = 0; index < 6; index += 1) {
      await ledger.register(`job-later-${index}`, { registeredBy: 'cli', dueAtMs: clock.now + 10_000 + index });
    }
    const before = listRequests();

    const due = await ledger.listDue(100);

    expect(due).toHaveLength(3);
    // Page 1 contains two due markers and page 2 the third and the first one not due, so pages 3-5 stay unread.
    expect(listRequests() - before).toBe(2);
  });

  it('returns at most limit jobs', async () => {
    const clock = { now: 1_700_000_000_000 };
    const ledger = ledgerAt(clock);
    for (let index = 0; index < 5; index += 1) {
      await ledger.register(`job-${index}`, { registeredBy: 'cli', dueAtMs: clock.now - 5_000 + index });
    }

    const due = await ledger.listDue(2);

    expect(due.map((entry) => entry.jobId)).toEqual(['job-0', 'job-1']);
  });

  it('returns nothing when no job is due', async () => {
    const clock = { now: 1_700_000_000_000 };
    const ledger = ledgerAt(clock);
    await ledger.register('job-future', { registeredBy: 'cli', dueAtMs: clock.now + 1 });

    expect(await ledger.listDue(10)).toEqual([]);
  });

  it('skips a marker whose JobId is not a plain ID', async () => {
    const clock = { now: 1_700_000_000_000 };
    const ledger = ledgerAt(clock);
    await oss.putObjectDirect(BUCKET, ledger.dueKey('../escape', clock.now - 2_000), Buffer.alloc(0));
    await ledger.register('job-plain', { registeredBy: 'cli', dueAtMs: clock.now - 1_000 });

    const due = await ledger.listDue(10);

    expect(due.map((entry) => entry.jobId)).toEqual(['job-plain']);
  });
});

describe('Ledger.reschedule', () => {
  it('moves the marker by the backoff', async () => {
    const clock = { now: 1_700_000_000_000 };
    const ledger = ledgerAt(clock);
    const record = await ledger.register('job-d', { registeredBy: 'poller' });

    const next = await ledger.reschedule(record, { outcome: 'pending', status: 'Processing' });

    expect(next.attempts).toBe(1);
    expect(next.dueAtMs).toBeGreaterThanOrEqual(clock.now + BASE_DELAY_MS * 0.8);
    expect(next.dueAtMs).toBeLessThanOrEqual(clock.now + BASE_DELAY_MS * 1.2);
    expect(next).toMatchObject({ lastOutcome: 'pending', lastStatus: 'Processing' });
    expect(markers()).toEqual([next.dueKey]);
    expect(await ledger.get('job-d')).toEqual(next);
  });

  it('keeps attempts when told not to count', async () => {
    const clock = { now: 1_700_000_000_000 };
    const ledger = ledgerAt(clock);
    const record = await ledger.register('job-e', { registeredBy: 'callback', dueAtMs: clock.now + 60_000 });

    const next = await ledger.reschedule(record, { outcome: 'dispatch-failed', dueAtMs: clock.now, countAttempt: false });

    expect(next.attempts).toBe(0);
    expect(next.dueAtMs).toBe(clock.now);
    expect(next.lastOutcome).toBe('dispatch-failed');
    expect(markers()).toEqual([ledger.dueKey('job-e', clock.now)]);
  });

  it('rewrites only the record for the same due time', async () => {
    const clock = { now: 1_700_000_000_000 };
    const ledger = ledgerAt(clock);
    const record = await ledger.register('job-f', { registeredBy: 'worker' });

    const next = await ledger.reschedule(record, { outcome: 'pending', reason: 'still running', dueAtMs: record.dueAtMs });

    expect(markers()).toEqual([record.dueKey]);
    expect((await ledger.get('job-f'))?.lastReason).toBe('still running');
    expect(next.attempts).toBe(1);
  });
});

describe('Ledger.markDone', () => {
  it('removes the record and its marker', async () => {
    const clock = { now: 1_700_000_000_000 };
    const ledger = ledgerAt(clock);
    await ledger.register('job-g', { registeredBy: 'worker' });
    await ledger.register('job-h', { registeredBy: 'worker' });

    await ledger.markDone('job-g');

    expect(records()).toEqual([ledger.recordKey('job-h')]);
    expect(markers()).toEqual([ledger.dueKey('job-h', clock.now)]);
  });

  it('ignores a job not in the ledger', async () => {
    const ledger = ledgerAt({ now: 1_700_000_000_000 });

    await expect(ledger.markDone('job-unknown')).resolves.toBeUndefined();
  });
});

describe('Ledger.recordFor', () => {
  it('removes a stale marker', async () => {
    const clock = { now: 1_700_000_000_000 };
    const ledger = ledgerAt(clock);
    const record = await ledger.register('job-i', { registeredBy: 'poller', dueAtMs: clock.now + 60_000 });
    // A crash after the record moved to a new marker, but before the old marker was deleted, leaves this behind.
    const staleKey = ledger.dueKey('job-i', clock.now - 1_000);
    await oss.putObjectDirect(BUCKET, staleKey, Buffer.alloc(0));
    const [entry] = await ledger.listDue(10);

    const found = await ledger.recordFor(entry!);

    expect(found).toBeUndefined();
    expect(markers()).toEqual([record.dueKey]);
    expect(await ledger.get('job-i')).toEqual(record);
  });

  it('adopts a marker without a record', async () => {
    const clock = { now: 1_700_000_000_000 };
    const ledger = ledgerAt(clock);
    const orphanKey = ledger.dueKey('job-j', clock.now - 1_000);
    await oss.putObjectDirect(BUCKET, orphanKey, Buffer.alloc(0));
    const [entry] = await ledger.listDue(10);

    const adopted = await ledger.recordFor(entry!);

    expect(adopted).toMatchObject({ jobId: 'job-j', dueKey: orphanKey, attempts: 0, registeredBy: 'ledger' });
    expect(await ledger.get('job-j')).toEqual(adopted);
  });

  it('returns the record of its current marker', async () => {
    const clock = { now: 1_700_000_000_000 };
    const ledger = ledgerAt(clock);
    const record = await ledger.register('job-k', { registeredBy: 'poller' });
    const [entry] = await ledger.listDue(10);

    expect(await ledger.recordFor(entry!)).toEqual(record);
  });
});

describe('Ledger.backoffMs', () => {
  it('doubles from the base delay', () => {
    const ledger = ledgerAt({ now: 0 });

    for (let sample = 0; sample < 50; sample += 1) {
      const delay = ledger.backoffMs(3);
      expect(delay).toBeGreaterThanOrEqual(4 * BASE_DELAY_MS * 0.8);
      expect(delay).toBeLessThanOrEqual(4 * BASE_DELAY_MS * 1.2);
    }
  });

  it('caps the delay', () => {
    const ledger = ledgerAt({ now: 0 });

    for (const attempts of [6, 20, 1_000]) {
      const delay = ledger.backoffMs(attempts);
      expect(delay).toBeGreaterThanOrEqual(MAX_DELAY_MS * 0.8);
      expect(delay).toBeLessThanOrEqual(MAX_DELAY_MS * 1.2);
    }
  });

  it('honours custom delays', () => {
    const ledger = ledgerAt({ now: 0 }, { baseDelayMs: 1_000, maxDelayMs: 5_000 });

    expect(ledger.backoffMs(1)).toBeLessThanOrEqual(1_200);
    expect(ledger.backoffMs(10)).toBeLessThanOrEqual(6_000);
  });
});

describe('Ledger.isExpired', () => {
  it('expires a record older than the maximum age', async () => {
    const clock = { now: 1_700_000_000_000 };
    const ledger = ledgerAt(clock);
    const record = await ledger.register('job-l', { registeredBy: 'callback' });

    clock.now += 2 * 3_600_000;
    expect(ledger.isExpired(record, 3)).toBe(false);
    clock.now += 2 * 3_600_000;
    expect(ledger.isExpired(record, 3)).toBe(true);
  });
});
