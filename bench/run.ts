/**
 * `npm run bench`: measures the product against a baseline of the same run and writes docs/benchmarks.md.
 *
 * The local cloud runs in its own process (bench/cloud-server.ts, OSS disk-backed). Each copy runs in a fresh
 * plain `node` process (bench/children/), so the peak RSS measured is the copier's alone. Measured: copy
 * throughput against a plain GET-to-PUT pipe, peak RSS at three zip sizes, cold start of each bundle against
 * the same code unbundled, and the callback's response time. Not part of CI: a full run copies 4 GiB and takes
 * several minutes. Pass --help for the options.
 */
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, statfs, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { measureCallbacks } from './callback-bench';
import type { CloudInfo } from './cloud-server';
import { FUNCTION_NAMES, buildUnbundled, bundleSize, measureColdStarts } from './cold-start';
import { removeSource, runBaselineCopy, runProductCopy, seedSource, type CopyBench, type CopyRun } from './copy-bench';
import { startServerProcess } from './ipc';
import { renderReport, type BenchResults, type ServerSideCopy } from './report';
import { readSettings, type BenchSettings } from './settings';
import { GiB, formatSize, median } from './stats';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Room needed besides three copies of the largest zip (source, the copy, and its parts before Complete). */
const DISK_MARGIN_BYTES = 1 * GiB;

async function main(): Promise<void> {
  const settings = readSettings(root, process.argv.slice(2), process.env);
  await mkdir(settings.dataDir, { recursive: true });
  await checkFreeDisk(settings);
  const startedAt = new Date();
  const loadAtStart = os.loadavg();

  step('Bundling the measured child processes');
  // Measured from a copy, so that a build started meanwhile (npm test deletes dist/ first) cannot interfere.
  const bundlesDir = path.join(settings.buildDir, 'dist');
  await snapshotBundles(bundlesDir);
  const children = { ...(await bundleChildren(settings.buildDir)), bundlesDir };

  const { copies, callbacks } = await withCloud(settings, async (bench) => {
    step('Copies: product and plain-Node baseline, each in a fresh process');
    const copyRuns = await measureCopies(bench, settings);
    step(`Callback response time over ${settings.callbacks} signed callbacks`);
    const callbackPath = path.join(bundlesDir, 'callback', 'index.js');
    return { copies: copyRuns, callbacks: await measureCallbacks(bench.cloud, callbackPath, settings.callbacks) };
  }, children);

  step('Cold start: bundled against unbundled, in fresh processes');
  const unbundledDir = path.join(settings.buildDir, 'unbundled');
  await buildUnbundled(root, unbundledDir);
  const coldStarts = await measureColdStarts(bundlesDir, unbundledDir, settings.coldStartRuns);
  const bundleSizes = Object.fromEntries(await Promise.all(FUNCTION_NAMES.map(async (name) => [name, await bundleSize(bundlesDir, name)] as const)));

  const results: BenchResults = {
    startedAt,
    finishedAt: new Date(),
    loadAtStart,
    loadAtEnd: os.loadavg(),
    copies,
    serverSideCopy: serverSideFigures(copies, settings.throughputSize),
    coldStarts,
    bundleSizes,
    callbacks,
  };
  const previousPage = await readFile(settings.outputPath, 'utf8').catch(() => undefined);
  await mkdir(path.dirname(settings.outputPath), { recursive: true });
  await writeFile(settings.outputPath, renderReport(results, settings, previousPage));
  step(`Report written to ${path.relative(root, settings.outputPath)}`);
}

/** Copies every size once (the throughput size `throughputRounds` times), alternating product and baseline. */
async function measureCopies(bench: CopyBench, settings: BenchSettings): Promise<CopyRun[]> {
  const runs: CopyRun[] = [];
  for (const size of settings.rssSizes) {
    console.log(`  seeding a ${formatSize(size)} source object`);
    const source = await seedSource(bench, size);
    const rounds = size === settings.throughputSize ? settings.throughputRounds : 1;
    for (let round = 0; round < rounds; round += 1) {
      // Alternating which copy goes first spreads any warm-up or page-cache effect over both kinds.
      if (round % 2 === 0) runs.push(await runProductCopy(bench, source, 'download'), await runBaselineCopy(bench, source));
      else runs.push(await runBaselineCopy(bench, source), await runProductCopy(bench, source, 'download'));
    }
    if (size === settings.throughputSize) runs.push(await runProductCopy(bench, source, 'server-side'));
    await removeSource(bench, source);
  }
  return runs;
}

/**
 * Returns the server-side copy's figures, or undefined when the product downloaded the source anyway
 * (a build without server-side copy), which the page reports as not measured.
 */
function serverSideFigures(copies: CopyRun[], size: number): ServerSideCopy | undefined {
  const run = copies.find((copy) => copy.kind === 'server-side' && copy.size === size);
  if (run === undefined || run.sourceReads > 0) return undefined;
  const streamed = copies.filter((copy) => copy.kind === 'product' && copy.size === size);
  return {
    size,
    elapsedMs: run.elapsedMs,
    bytesFromOss: run.bytesFromOss ?? 0,
    sourceReads: run.sourceReads,
    streamingElapsedMs: median(streamed.map((copy) => copy.elapsedMs)),
    streamingBytesFromOss: median(streamed.map((copy) => copy.bytesFromOss ?? 0)),
    copierCpuMs: run.copierCpuMs,
    streamingCopierCpuMs: median(streamed.map((copy) => copy.copierCpuMs)),
  };
}

interface ChildScripts {
  copierPath: string;
  baselinePath: string;
  /** The snapshot of dist/ with one folder per function. */
  bundlesDir: string;
}

/** Starts the cloud process on a fresh data folder, runs `work`, then stops it and deletes the folder. */
async function withCloud<T>(settings: BenchSettings, work: (bench: CopyBench) => Promise<T>, children: ChildScripts): Promise<T> {
  const ossDataDir = await mkdtemp(path.join(settings.dataDir, 'oss-'));
  const { child, info, client } = await startServerProcess<CloudInfo>(path.join(root, 'bench', 'cloud-server.ts'), [ossDataDir], {
    execArgv: ['--import', 'tsx'],
    stdio: 'inherit',
  });
  try {
    return await work({ cloud: client, info, workerPath: path.join(children.bundlesDir, 'worker', 'index.js'), ...children });
  } finally {
    await client.call('close').catch(() => child.kill());
    await rm(ossDataDir, { recursive: true, force: true });
  }
}

/** Copies each function's folder of dist/ (bundle, source map, CommonJS marker) into `bundlesDir`. */
async function snapshotBundles(bundlesDir: string): Promise<void> {
  await rm(bundlesDir, { recursive: true, force: true });
  for (const name of FUNCTION_NAMES) {
    const built = path.join(root, 'dist', name);
    if (!existsSync(path.join(built, 'index.js'))) throw new Error(`${built}/index.js is missing: run npm run build first (npm run bench does)`);
    await cp(built, path.join(bundlesDir, name), { recursive: true });
  }
}

/** Bundles bench/children/*.ts into plain CommonJS, so that they run without a TypeScript loader. */
async function bundleChildren(buildDir: string): Promise<Pick<ChildScripts, 'copierPath' | 'baselinePath'>> {
  const outdir = path.join(buildDir, 'bin');
  await build({
    entryPoints: [path.join(root, 'bench', 'children', 'copier.ts'), path.join(root, 'bench', 'children', 'baseline.ts')],
    outdir,
    outExtension: { '.js': '.cjs' },
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    logLevel: 'warning',
  });
  return { copierPath: path.join(outdir, 'copier.cjs'), baselinePath: path.join(outdir, 'baseline.cjs') };
}

async function checkFreeDisk(settings: BenchSettings): Promise<void> {
  const largest = Math.max(...settings.rssSizes);
  const needed = 3 * largest + DISK_MARGIN_BYTES;
  const stats = await statfs(settings.dataDir);
  const free = stats.bavail * stats.bsize;
  if (free < needed) {
    throw new Error(
      `Only ${formatSize(free)} free under ${settings.dataDir}; the ${formatSize(largest)} copy needs about ${formatSize(needed)}. ` +
        'Free some space, point BENCH_DATA_DIR at a larger disk, or run with BENCH_QUICK=1.',
    );
  }
}

function step(title: string): void {
  console.log(`\n== ${title}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
