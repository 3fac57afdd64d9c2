/**
 * Renders the benchmark figures as the Markdown page docs/benchmarks.md: the machine and the command, a
 * summary of the targets, then one table per measurement with its baseline and the ratio.
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import type { CallbackTimes } from './callback-bench';
import type { ColdStart } from './cold-start';
import type { CopyRun } from './copy-bench';
import type { BenchSettings } from './settings';
import { MiB, formatSize, median, mibPerSecond, round } from './stats';

/** Everything one run measured. */
export interface BenchResults {
  startedAt: Date;
  finishedAt: Date;
  /** `os.loadavg()` when the run started and when it finished: other work on the machine skews every figure. */
  loadAtStart: number[];
  loadAtEnd: number[];
  copies: CopyRun[];
  /** Undefined while the product has no server-side copy to measure. */
  serverSideCopy: ServerSideCopy | undefined;
  coldStarts: ColdStart[];
  bundleSizes: Record<string, number>;
  callbacks: CallbackTimes;
}

export interface ServerSideCopy {
  size: number;
  elapsedMs: number;
  bytesFromOss: number;
  sourceReads: number;
  /** Median elapsed time of the streamed copy of the same size, in milliseconds. */
  streamingElapsedMs: number;
  /** Median bytes a streamed copy of the same size read from OSS. */
  streamingBytesFromOss: number;
  /** CPU time of the copying process, and the median of the streamed copies of the same size, in milliseconds. */
  copierCpuMs: number;
  streamingCopierCpuMs: number;
}

/** Product throughput divided by baseline throughput must reach this. */
export const THROUGHPUT_TARGET = 0.9;
/** Peak RSS of the copier, in bytes, must stay under this at every size. */
export const RSS_LIMIT_BYTES = 256 * MiB;
/**
 * "Flat": the product's peaks at all sizes lie within this many bytes of each other. A copy that kept even
 * 1 % of its bytes would grow by about 40 MiB from 256 MiB to 4 GiB. The peak of one size varied by about
 * 10 MiB between runs when this limit was set, an observation on one machine and not a bound.
 */
export const RSS_FLAT_TOLERANCE_BYTES = 32 * MiB;
/** Bundled require time divided by unbundled must be at most this. */
export const COLD_START_TARGET = 0.5;

/** Marks a hand-written section of the page that a new run keeps. */
export const ANALYSIS_START = '<!-- analysis:start (kept when the bench rewrites this page) -->';
export const ANALYSIS_END = '<!-- analysis:end -->';

export function renderReport(results: BenchResults, settings: BenchSettings, previousPage: string | undefined): string {
  const throughput = throughputFigures(results.copies, settings.throughputSize);
  const rss = rssFigures(results.copies, settings.rssSizes);
  const sections = [
    header(results, settings),
    summary(results, throughput, rss),
    keptAnalysis(previousPage),
    throughputSection(throughput, settings),
    rssSection(rss),
    serverSideCopySection(results.serverSideCopy),
    coldStartSection(results.coldStarts, results.bundleSizes, settings),
    callbackSection(results.callbacks),
    methodSection(),
  ];
  return `${sections.filter((section) => section !== '').join('\n\n')}\n`;
}

interface ThroughputFigures {
  productMiBs: number;
  /** The product's median with the time in CompleteMultipartUpload left out. */
  productWithoutCompleteMiBs: number;
  baselineMiBs: number;
  ratio: number;
  runs: CopyRun[];
}

function throughputFigures(copies: CopyRun[], size: number): ThroughputFigures {
  const runs = copies.filter((run) => run.size === size);
  const rate = (kind: CopyRun['kind']) => median(runs.filter((run) => run.kind === kind).map((run) => mibPerSecond(run.size, run.elapsedMs)));
  const productMiBs = rate('product');
  const baselineMiBs = rate('baseline');
  const productWithoutCompleteMiBs = median(
    runs.filter((run) => run.kind === 'product').map((run) => mibPerSecond(run.size, run.elapsedMs - (run.phases?.completeMs ?? 0))),
  );
  return { productMiBs, productWithoutCompleteMiBs, baselineMiBs, ratio: productMiBs / baselineMiBs, runs };
}

interface RssRow {
  size: number;
  productBytes: number;
  baselineBytes: number;
}

function rssFigures(copies: CopyRun[], sizes: number[]): RssRow[] {
  const peak = (size: number, kind: CopyRun['kind']) =>
    Math.max(...copies.filter((run) => run.size === size && run.kind === kind).map((run) => run.maxRssKiB * 1024));
  return sizes.map((size) => ({ size, productBytes: peak(size, 'product'), baselineBytes: peak(size, 'baseline') }));
}

/** `spread` is the highest peak minus the lowest, in bytes. */
function rssVerdict(rows: RssRow[]): { underLimit: boolean; flat: boolean; spread: number } {
  const peaks = rows.map((row) => row.productBytes);
  const lowest = Math.min(...peaks);
  const spread = Math.max(...peaks) - lowest;
  return { underLimit: peaks.every((bytes) => bytes < RSS_LIMIT_BYTES), flat: spread <= RSS_FLAT_TOLERANCE_BYTES, spread };
}

function header(results: BenchResults, settings: BenchSettings): string {
  const cpus = os.cpus();
  const command = settings.quick ? 'BENCH_QUICK=1 npm run bench' : 'npm run bench';
  return [
    '# Benchmarks',
    '',
    `Written by \`${command}\` (bench/run.ts); do not edit by hand except between the analysis markers.`,
    settings.quick ? '\n**Quick run: small sizes and few repetitions, for development only. These are not the reference figures.**\n' : '',
    '| | |',
    '|---|---|',
    `| Command | \`${command}\` |`,
    `| Run | ${results.startedAt.toISOString()} to ${results.finishedAt.toISOString()} |`,
    `| Commit | ${gitDescription()} |`,
    `| CPU | ${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown'} |`,
    `| Memory | ${formatSize(os.totalmem())} |`,
    `| OS | ${os.type()} ${os.release()} (${os.arch()}) |`,
    `| Node.js | ${process.version} |`,
    `| Load average (1, 5, 15 min) | ${formatLoad(results.loadAtStart)} at the start, ${formatLoad(results.loadAtEnd)} at the end |`,
    '',
    'Everything runs on this one machine over 127.0.0.1: the IMS, OSS and FC emulators in one process (OSS',
    'keeps objects in files), and each measured copy or module load in a fresh process of its own.',
  ].join('\n');
}

function summary(results: BenchResults, throughput: ThroughputFigures, rss: RssRow[]): string {
  const verdict = rssVerdict(rss);
  const highestRss = Math.max(...rss.map((row) => row.productBytes));
  const worstCold = results.coldStarts.reduce((worst, entry) => Math.max(worst, ratio(entry)), 0);
  const rows = [
    [
      `Throughput at least ${THROUGHPUT_TARGET} × the plain-Node baseline`,
      `${round(throughput.ratio, 2)} × (${round(throughput.productMiBs)} vs ${round(throughput.baselineMiBs)} MiB/s)`,
      met(throughput.ratio >= THROUGHPUT_TARGET),
    ],
    [`Peak RSS under ${formatSize(RSS_LIMIT_BYTES)} at every size`, `highest ${formatSize(highestRss)}`, met(verdict.underLimit)],
    [`Peak RSS flat across sizes (within ${formatSize(RSS_FLAT_TOLERANCE_BYTES)})`, `spread ${formatSize(verdict.spread)}`, met(verdict.flat)],
    serverSideSummary(results.serverSideCopy),
    [`Cold start at most ${COLD_START_TARGET} × unbundled`, `worst ${round(worstCold, 2)} ×`, met(worstCold <= COLD_START_TARGET)],
    [
      `Callback responded to within IMS's ${results.callbacks.limitMs} ms`,
      `p99 ${results.callbacks.p99Ms} ms, max ${results.callbacks.maxMs} ms, ${results.callbacks.failures} late or failed`,
      met(results.callbacks.failures === 0 && results.callbacks.maxMs < results.callbacks.limitMs),
    ],
  ];
  return ['## Targets', '', '| Target | Measured | Met |', '|---|---|---|', ...rows.map((row) => `| ${row.join(' | ')} |`)].join('\n');
}

function serverSideSummary(copy: ServerSideCopy | undefined): string[] {
  const target = 'Server-side copy: 0 bytes through the function';
  if (copy === undefined) return [target, 'not measured yet: this build downloaded the source', 'not measured'];
  const measured = `${copy.sourceReads} source downloads; ${round(copy.elapsedMs / copy.streamingElapsedMs, 2)} × the streaming time`;
  return [target, measured, met(copy.sourceReads === 0)];
}

function keptAnalysis(previousPage: string | undefined): string {
  const start = previousPage?.indexOf(ANALYSIS_START) ?? -1;
  const end = previousPage?.indexOf(ANALYSIS_END) ?? -1;
  if (previousPage === undefined || start === -1 || end <= start) {
    return ['## Analysis', '', ANALYSIS_START, '', '(No analysis written yet.)', '', ANALYSIS_END].join('\n');
  }
  return ['## Analysis', '', previousPage.slice(start, end + ANALYSIS_END.length)].join('\n');
}

function throughputSection(figures: ThroughputFigures, settings: BenchSettings): string {
  const rows = figures.runs.map((run, index) =>
    [
      index + 1,
      run.kind,
      `${round(run.elapsedMs / 1000, 2)} s`,
      `${round(mibPerSecond(run.size, run.elapsedMs))} MiB/s`,
      run.phases === undefined ? '' : `${round(run.phases.completeMs / 1000, 2)} s`,
      `${round(run.copierCpuMs / 1000, 2)} s`,
      `${round(run.cloudCpuMs / 1000, 2)} s`,
    ].join(' | '),
  );
  return [
    `## Throughput: copying a ${formatSize(settings.throughputSize)} zip`,
    '',
    `Product: the bundled worker (dist/worker/index.js) syncing one AdobePremierePro job, timed from the handler`,
    'call until it returned: GetProjectExportJob, the streamed multipart copy with its CRC-64 checks, the manifest',
    'and the ledger. Its role may not read the export bucket, so it must download the presigned ProjectUrl (its',
    'attempt at a server-side copy is denied by one HeadObject first). Baseline: `http.get` of the same presigned',
    'ProjectUrl piped into one `http.request` PUT to the same emulator, with no SDK and no checksum in the process.',
    settings.throughputRounds === 1
      ? 'One copy of each.'
      : `${settings.throughputRounds} copies of each, alternating which goes first; the medians count.`,
    '',
    '| | Product | Baseline | Ratio |',
    '|---|---|---|---|',
    `| Median throughput | ${round(figures.productMiBs)} MiB/s | ${round(figures.baselineMiBs)} MiB/s | ${round(figures.ratio, 2)} |`,
    `| Median throughput without CompleteMultipartUpload (estimate) | ${round(figures.productWithoutCompleteMiBs)} MiB/s | ${round(figures.baselineMiBs)} MiB/s | ${round(figures.productWithoutCompleteMiBs / figures.baselineMiBs, 2)} |`,
    '',
    'The second row leaves out the time the product waited for CompleteMultipartUpload. The emulator joins the parts',
    'by reference, so that step takes milliseconds and the two rows are nearly equal; how long OSS takes to complete',
    'a multipart upload was not measured.',
    '',
    'Per run: "Complete" is the time the product spent in CompleteMultipartUpload. "Copier CPU" is the CPU time of the whole copying',
    'process. "Emulator CPU" is what the cloud process used meanwhile, serving the download and storing the upload.',
    '',
    '| Run | Kind | Time | Throughput | Complete | Copier CPU | Emulator CPU |',
    '|---|---|---|---|---|---|---|',
    ...rows.map((row) => `| ${row} |`),
  ].join('\n');
}

function rssSection(rows: RssRow[]): string {
  const verdict = rssVerdict(rows);
  return [
    '## Peak RSS of the copying process',
    '',
    '`process.resourceUsage().maxRSS` of the copying process at exit (the whole process: Node, the loaded code and',
    'the copy). The highest of the runs at each size counts.',
    '',
    '| Zip size | Product | Baseline | Product / baseline |',
    '|---|---|---|---|',
    ...rows.map((row) => `| ${formatSize(row.size)} | ${formatSize(row.productBytes)} | ${formatSize(row.baselineBytes)} | ${round(row.productBytes / row.baselineBytes, 2)} |`),
    '',
    `Spread of the product's peaks: ${formatSize(verdict.spread)} between the lowest and the highest. "Flat" here means a`,
    `spread of at most ${formatSize(RSS_FLAT_TOLERANCE_BYTES)}. A copy that kept 1 % of its bytes would grow by about 40 MiB from`,
    '256 MiB to 4 GiB. The peak of one size varied by about 10 MiB between runs when this limit was set.',
  ].join('\n');
}

function serverSideCopySection(copy: ServerSideCopy | undefined): string {
  const title = '## Server-side copy';
  if (copy === undefined) {
    return [
      title,
      '',
      '| Size | Bytes through the function | Time | Streaming time |',
      '|---|---|---|---|',
      '| 1 GiB | not measured yet | not measured yet | not measured yet |',
      '',
      'Not measured yet: given read access to the export bucket, this build still downloaded the source, so it',
      'has no server-side copy to measure.',
    ].join('\n');
  }
  return [
    title,
    '',
    'The bundled worker with a role that may read the export bucket, so that it copies inside OSS (CopyObject,',
    'or UploadPartCopy from 1 GiB up). Bytes through the function: the source downloads OSS served during the',
    'copy (each would carry the whole object). "Read from OSS" is every byte the copying process received from',
    'OSS connections: response headers and XML only, when nothing was downloaded. The streaming figures are the',
    'medians of the download copies of the same size above.',
    '',
    '| | Server-side copy | Streaming copy | Ratio |',
    '|---|---|---|---|',
    `| Source downloads | ${copy.sourceReads} | 1 | |`,
    `| Read from OSS | ${formatSize(copy.bytesFromOss)} | ${formatSize(copy.streamingBytesFromOss)} | |`,
    `| Copier CPU | ${round(copy.copierCpuMs / 1000, 2)} s | ${round(copy.streamingCopierCpuMs / 1000, 2)} s | ${round(copy.copierCpuMs / copy.streamingCopierCpuMs, 2)} |`,
    `| Time for ${formatSize(copy.size)} | ${round(copy.elapsedMs / 1000, 2)} s | ${round(copy.streamingElapsedMs / 1000, 2)} s | ${round(copy.elapsedMs / copy.streamingElapsedMs, 2)} |`,
    '',
    'The time compares poorly with OSS: the emulator does the server-side copy on this machine, reading and',
    'writing every byte for UploadPartCopy.',
  ].join('\n');
}

function coldStartSection(entries: ColdStart[], bundleSizes: Record<string, number>, settings: BenchSettings): string {
  const rows = entries.map((entry) =>
    [
      entry.name,
      formatSize(bundleSizes[entry.name] ?? 0),
      `${round(entry.bundled.requireMs)} ms`,
      `${round(entry.unbundled.requireMs)} ms`,
      round(ratio(entry), 2),
      `${round(entry.bundled.processMs)} / ${round(entry.unbundled.processMs)} ms`,
      `${entry.bundled.files} / ${entry.unbundled.files}`,
      `${formatSize(entry.bundled.bytes)} / ${formatSize(entry.unbundled.bytes)}`,
    ].join(' | '),
  );
  return [
    '## Cold start',
    '',
    `Median of ${settings.coldStartRuns} fresh \`node\` processes per variant, alternating, after one warm-up load of each`,
    '(so both read from the page cache). "Require" times the `require` of the entry file alone; "process" is from',
    'spawning `node` until it exited, Node\'s own start-up included.',
    '',
    'Bundled: dist/<name>/index.js as deployed. Unbundled: the same TypeScript transpiled file by file to CommonJS',
    '(esbuild, `bundle: false`) with the npm packages loaded from node_modules, as a `tsc` build deployed with',
    'node_modules would run. Importing the .ts sources through tsx is not comparable, since tsx would transpile',
    'during the measurement.',
    '',
    '"Files" and "bytes" count the JavaScript files in `require.cache` after the require, bundled / unbundled.',
    '',
    '| Function | Bundle size | Require, bundled | Require, unbundled | Ratio | Process, bundled / unbundled | Files | Bytes |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map((row) => `| ${row} |`),
  ].join('\n');
}

function callbackSection(times: CallbackTimes): string {
  return [
    '## Callback response time',
    '',
    `${times.count} signed IMS callbacks (X-ICE-TIMESTAMP and X-ICE-SIGNATURE), sent one after another to the bundled`,
    'callback function behind the local FC HTTP trigger. WORKER_FUNCTION is set as deployed, so each callback',
    'writes its ledger record to OSS and invokes the worker asynchronously through the FC emulator. The registered',
    'worker only records the invocation. Each time runs from the POST until the whole response arrived.',
    '',
    '| First | p50 | p99 | Max | IMS limit | Late or failed |',
    '|---|---|---|---|---|---|',
    `| ${times.firstMs} ms | ${times.p50Ms} ms | ${times.p99Ms} ms | ${times.maxMs} ms | ${times.limitMs} ms | ${times.failures} |`,
  ].join('\n');
}

function methodSection(): string {
  return [
    '## Limits of these figures',
    '',
    '- The emulators share the machine with the measured process, so on few cores the two compete for CPU; the',
    '  baseline pays the same cost, which is why every figure is a ratio against a baseline of the same run.',
    '- Loopback has no latency or bandwidth limit: in Function Compute the network to OSS and the function\'s',
    '  vCPU share set the pace, so absolute MiB/s here say nothing about a deployed function.',
    '- Every copy is checked: the product\'s outcome must name the object with the source\'s size and CRC-64, and',
    '  OSS\'s CRC-64 of the baseline\'s copy must equal the source\'s.',
  ].join('\n');
}

function formatLoad(load: number[]): string {
  return load.map((value) => value.toFixed(2)).join(', ');
}

function ratio(entry: ColdStart): number {
  return entry.bundled.requireMs / entry.unbundled.requireMs;
}

function met(condition: boolean): string {
  return condition ? 'yes' : '**no**';
}

function gitDescription(): string {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'lib', 'functions'], { encoding: 'utf8' }).trim() !== '';
    return dirty ? `${commit} with uncommitted changes in lib/ or functions/` : commit;
  } catch {
    return 'unknown (git not available)';
  }
}
