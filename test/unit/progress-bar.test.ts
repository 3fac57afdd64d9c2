import { describe, expect, it } from 'vitest';
import { createProgressBar, formatProgress, logAboveBar } from '../../lib/progress-bar';

const MiB = 1024 * 1024;

describe('formatProgress', () => {
  it('shows the bar, percentage, sizes and rate', () => {
    expect(formatProgress(64 * MiB, 128 * MiB, 4, 10)).toBe('[#####-----]  50%  64.0/128.0 MiB  16.0 MiB/s');
  });

  it('fills the bar at completion', () => {
    expect(formatProgress(3 * MiB, 3 * MiB, 1, 4)).toBe('[####] 100%  3.0/3.0 MiB  3.0 MiB/s');
  });

  it('shows bytes alone when the total is unknown', () => {
    expect(formatProgress(5 * MiB, undefined, 2, 10)).toBe('5.0 MiB  2.5 MiB/s');
  });
});

describe('createProgressBar', () => {
  it('redraws at most once per interval', () => {
    const drawn: string[] = [];
    let clock = 0;
    const bar = createProgressBar({ write: (text) => drawn.push(text), width: 4, intervalMs: 100, now: () => clock });

    clock = 100;
    bar.update(1 * MiB, 4 * MiB);
    clock = 150;
    bar.update(2 * MiB, 4 * MiB);
    clock = 250;
    bar.update(3 * MiB, 4 * MiB);

    expect(drawn).toHaveLength(2);
    expect(drawn[0]).toMatch(/^\r\[#---\]  25%/);
    expect(drawn[1]).toMatch(/^\r\[###-\]  75%/);
  });

  it('draws the last state and ends the line', () => {
    const drawn: string[] = [];
    let clock = 0;
    const bar = createProgressBar({ write: (text) => drawn.push(text), width: 4, intervalMs: 1_000, now: () => clock });
    bar.update(1 * MiB, 4 * MiB);
    clock = 10;
    bar.update(4 * MiB, 4 * MiB);

    bar.finish();

    expect(drawn.at(-2)).toMatch(/^\r\[####\] 100%/);
    expect(drawn.at(-1)).toBe('\n');
  });

  it('erases the drawn line on clear', () => {
    const drawn: string[] = [];
    const bar = createProgressBar({ write: (text) => drawn.push(text), width: 4, intervalMs: 1_000, now: () => 0 });
    bar.update(1 * MiB, 4 * MiB);

    bar.clear();

    expect(drawn).toHaveLength(2);
    expect(drawn[1]).toBe('\r\x1b[K');
  });

  it('writes nothing on clear before a draw', () => {
    const drawn: string[] = [];
    const bar = createProgressBar({ write: (text) => drawn.push(text), width: 4, now: () => 0 });

    bar.clear();

    expect(drawn).toEqual([]);
  });

  it('writes nothing on clear after finish', () => {
    const drawn: string[] = [];
    const bar = createProgressBar({ write: (text) => drawn.push(text), width: 4, now: () => 0 });
    bar.update(1 * MiB, 4 * MiB);
    bar.finish();
    const written = drawn.length;

    bar.clear();

    expect(drawn).toHaveLength(written);
  });

  it('redraws on the first update after clear', () => {
    const drawn: string[] = [];
    let clock = 0;
    const bar = createProgressBar({ write: (text) => drawn.push(text), width: 4, intervalMs: 1_000, now: () => clock });
    bar.update(1 * MiB, 4 * MiB);
    bar.clear();

    clock = 10;
    bar.update(2 * MiB, 4 * MiB);

    expect(drawn).toHaveLength(3);
    expect(drawn[2]).toMatch(/^\r\[##--\]  50%/);
  });
});

describe('logAboveBar', () => {
  it('puts each log line on its own line', () => {
    const written: string[] = [];
    let clock = 0;
    const write = (text: string) => written.push(text);
    const bar = createProgressBar({ write, width: 4, intervalMs: 1_000, now: () => clock });
    const sink = logAboveBar(bar, write);
    bar.update(1 * MiB, 4 * MiB);

    sink('{"level":"warn"}');
    clock = 10;
    bar.update(2 * MiB, 4 * MiB);
    sink('{"level":"error"}');
    bar.finish();

    const lines = written.join('').split('\n');
    expect(lines[0]).toMatch(/^\r\[#---\]  25%.*\r\x1b\[K\{"level":"warn"\}$/);
    expect(lines[1]).toMatch(/^\r\[##--\]  50%.*\r\x1b\[K\{"level":"error"\}$/);
    expect(lines[2]).toMatch(/^\r\[##--\]  50%/);
    expect(lines[3]).toBe('');
  });

  it('writes log lines alone before a draw', () => {
    const written: string[] = [];
    const write = (text: string) => written.push(text);
    const sink = logAboveBar(createProgressBar({ write, now: () => 0 }), write);

    sink('{"level":"info"}');

    expect(written).toEqual(['{"level":"info"}\n']);
  });
});
