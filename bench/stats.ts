/** Small statistics and unit helpers of the benchmark report. */

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

/** Returns the `p`-th percentile (0 to 100) of `values` by the nearest-rank method. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new Error('percentile of an empty list');
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Formats a byte count as `256 MiB` or `1 GiB` (whole units) or with one decimal otherwise. */
export function formatSize(bytes: number): string {
  if (bytes >= GiB && bytes % GiB === 0) return `${bytes / GiB} GiB`;
  if (bytes >= MiB) return `${Number((bytes / MiB).toFixed(1))} MiB`;
  if (bytes >= 1024) return `${Number((bytes / 1024).toFixed(1))} KiB`;
  return `${bytes} B`;
}

/** Throughput in MiB/s. */
export function mibPerSecond(bytes: number, elapsedMs: number): number {
  return bytes / MiB / (elapsedMs / 1000);
}

export function round(value: number, digits = 1): string {
  return value.toFixed(digits);
}
