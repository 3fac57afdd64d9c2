/**
 * Cold start: the time a fresh Node process takes to load each function's code.
 *
 * The bundle is `dist/<name>/index.js` as deployed. It is compared with the same code unbundled. There,
 * esbuild transpiles every TypeScript file of functions/ and lib/ one to one (`bundle: false`) into
 * CommonJS, and the npm packages load from the repository's node_modules, as a `tsc` build deployed with
 * node_modules would. Importing functions/<name>/index.ts through tsx is not comparable, because tsx
 * would transpile every file during the measurement.
 */
import { spawnSync } from 'node:child_process';
import { readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { build } from 'esbuild';
import { median } from './stats';

export const FUNCTION_NAMES = ['callback', 'poller', 'worker'] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

/** Cold starts of one way of loading a function. */
export interface LoadVariant {
  /** Median time of the `require` call alone, in milliseconds. */
  requireMs: number;
  /** Median time from spawning `node` until it exited, in milliseconds: Node's own start-up included. */
  processMs: number;
  /** JavaScript files loaded (`require.cache` entries after the require). */
  files: number;
  /** Bytes of those files. */
  bytes: number;
}

export interface ColdStart {
  name: FunctionName;
  bundled: LoadVariant;
  unbundled: LoadVariant;
}

/** Timing printed by the measuring process as one JSON line. */
interface LoadSample {
  requireMs: number;
  files: number;
  bytes: number;
}

/**
 * Runs in the measuring process (`node -e`): times one `require`, then sums the files it loaded.
 * The entry path arrives in argv so that no quoting is needed.
 */
const LOAD_SCRIPT = `
const fs = require('node:fs');
const entry = process.argv[1];
const startedAt = process.hrtime.bigint();
require(entry);
const requireMs = Number(process.hrtime.bigint() - startedAt) / 1e6;
const files = Object.keys(require.cache);
const bytes = files.reduce((total, file) => total + fs.statSync(file).size, 0);
process.stdout.write(JSON.stringify({ requireMs, files: files.length, bytes }));
`;

/** Transpiles functions/ and lib/ file by file into `<outDir>`, the unbundled variant. */
export async function buildUnbundled(root: string, outDir: string): Promise<void> {
  await rm(outDir, { recursive: true, force: true });
  const entryPoints = [...(await typeScriptFiles(path.join(root, 'lib'))), ...(await typeScriptFiles(path.join(root, 'functions')))];
  await build({
    entryPoints,
    outdir: outDir,
    outbase: root,
    bundle: false,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    logLevel: 'warning',
  });
  // The repository's package.json sets "type": "module", so this marker makes Node load the output as CommonJS.
  await writeFile(path.join(outDir, 'package.json'), '{ "type": "commonjs" }\n');
}

/**
 * Measures both variants of every function, alternating them run by run after one warm-up each.
 * `bundlesDir` contains dist/'s function folders.
 */
export async function measureColdStarts(bundlesDir: string, unbundledDir: string, runs: number): Promise<ColdStart[]> {
  const results: ColdStart[] = [];
  for (const name of FUNCTION_NAMES) {
    const bundledEntry = path.join(bundlesDir, name, 'index.js');
    const unbundledEntry = path.join(unbundledDir, 'functions', name, 'index.js');
    // The warm-up loads every file once, so that both variants read from the page cache.
    loadOnce(bundledEntry);
    loadOnce(unbundledEntry);

    const bundled: Array<LoadSample & { processMs: number }> = [];
    const unbundled: Array<LoadSample & { processMs: number }> = [];
    for (let run = 0; run < runs; run += 1) {
      bundled.push(loadOnce(bundledEntry));
      unbundled.push(loadOnce(unbundledEntry));
    }
    results.push({ name, bundled: summarise(bundled), unbundled: summarise(unbundled) });
    console.log(`  ${name}: bundled ${median(bundled.map((s) => s.requireMs)).toFixed(1)} ms, unbundled ${median(unbundled.map((s) => s.requireMs)).toFixed(1)} ms`);
  }
  return results;
}

/** Bytes of the bundle `<bundlesDir>/<name>/index.js`. */
export async function bundleSize(bundlesDir: string, name: FunctionName): Promise<number> {
  return (await stat(path.join(bundlesDir, name, 'index.js'))).size;
}

function loadOnce(entry: string): LoadSample & { processMs: number } {
  const startedAt = performance.now();
  const result = spawnSync(process.execPath, ['-e', LOAD_SCRIPT, entry], { cwd: path.dirname(entry), encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
  const processMs = performance.now() - startedAt;
  if (result.status !== 0) throw new Error(`Loading ${entry} failed with exit code ${result.status}: ${result.stderr}`);
  return { ...(JSON.parse(result.stdout) as LoadSample), processMs };
}

function summarise(samples: Array<LoadSample & { processMs: number }>): LoadVariant {
  return {
    requireMs: median(samples.map((sample) => sample.requireMs)),
    processMs: median(samples.map((sample) => sample.processMs)),
    files: samples[0]!.files,
    bytes: samples[0]!.bytes,
  };
}

async function typeScriptFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts'))
    .map((entry) => path.join(entry.parentPath, entry.name));
}
