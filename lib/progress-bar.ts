/** A one-line progress bar for a terminal, redrawn in place with a carriage return. */

export interface ProgressBarOptions {
  /** Where the bar is drawn; it should be a terminal. */
  write: (text: string) => void;
  /** Characters of the bar itself. */
  width?: number;
  /** Shortest time between two redraws, in milliseconds. */
  intervalMs?: number;
  now?: () => number;
}

export interface ProgressBar {
  update(bytesDone: number, bytesTotal: number | undefined): void;
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

  const draw = (): void => {
    if (last === undefined) return;
    options.write(`\r${formatProgress(last.done, last.total, (now() - startedAt) / 1000, width)}`);
  };

  return {
    update(bytesDone, bytesTotal) {
      last = { done: bytesDone, total: bytesTotal };
      if (now() - lastDrawAt < intervalMs) return;
      lastDrawAt = now();
      draw();
    },
    finish() {
      if (last === undefined) return;
      draw();
      options.write('\n');
    },
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
