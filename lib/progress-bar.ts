/** A one-line progress bar for a terminal, redrawn in place with a carriage return. */
import type { LogSink } from './log';

/** Control sequence that moves the cursor to the start of the line and erases it (ANSI CSI K, "erase in line"). */
const ERASE_LINE = '\r\x1b[K';

export interface ProgressBarOptions {
  /** Writer the bar is drawn with, normally standard error on a terminal. */
  write: (text: string) => void;
  /** Characters of the bar itself. */
  width?: number;
  /** Shortest time between two redraws, in milliseconds. */
  intervalMs?: number;
  now?: () => number;
}

export interface ProgressBar {
  /** Records the progress and redraws the bar, at most once per interval unless the bar was cleared. */
  update(bytesDone: number, bytesTotal: number | undefined): void;
  /** Erases the bar's line, so that other output can start at the beginning of it. The next update redraws the bar. */
  clear(): void;
  /** Draws the final state and ends the line. */
  finish(): void;
}

/** Creates a bar that shows bytes done of the total, the percentage and the rate in MiB/s. */
export function createProgressBar(options: ProgressBarOptions): ProgressBar {
  const width = options.width ?? 30;
  const intervalMs = options.intervalMs ?? 200;
  const now = options.now ?? Date.now;
  const startedAt = now();
  let lastDrawAt = 0;
  let last: { done: number; total: number | undefined } | undefined;
  /** True while the bar's text is on the current line, that is after a draw and before `clear` or `finish`. */
  let visible = false;
  let finished = false;

  const draw = (): void => {
    if (last === undefined) return;
    options.write(`\r${formatProgress(last.done, last.total, (now() - startedAt) / 1000, width)}`);
    lastDrawAt = now();
    visible = true;
  };

  return {
    update(bytesDone, bytesTotal) {
      if (finished) return;
      last = { done: bytesDone, total: bytesTotal };
      if (visible && now() - lastDrawAt < intervalMs) return;
      draw();
    },
    clear() {
      if (!visible) return;
      options.write(ERASE_LINE);
      visible = false;
    },
    finish() {
      if (last === undefined || finished) return;
      draw();
      options.write('\n');
      visible = false;
      finished = true;
    },
  };
}

/**
 * Returns a log sink that erases the bar before it writes a line, so that no log line is glued to the bar's
 * text. `write` must go to the same terminal as the bar.
 */
export function logAboveBar(bar: ProgressBar, write: (text: string) => void): LogSink {
  return (line) => {
    bar.clear();
    write(`${line}\n`);
  };
}

/** Formats one state of the bar, such as `[#######-------]  50%  64.0/128.0 MiB  12.5 MiB/s`. */
export function formatProgress(bytesDone: number, bytesTotal: number | undefined, elapsedSeconds: number, width: number): string {
  const mebibytes = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
  const rate = elapsedSeconds > 0 ? `${mebibytes(bytesDone / elapsedSeconds)} MiB/s` : '';
  if (bytesTotal === undefined || bytesTotal <= 0) return `${mebibytes(bytesDone)} MiB  ${rate}`.trimEnd();

  const fraction = Math.min(1, bytesDone / bytesTotal);
  const filled = Math.round(fraction * width);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  return `${bar} ${percent}  ${mebibytes(bytesDone)}/${mebibytes(bytesTotal)} MiB  ${rate}`.trimEnd();
}
