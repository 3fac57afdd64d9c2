/** Settings of `npm run bench`, from its flags and environment. */
import path from 'node:path';
import { GiB, MiB } from './stats';

export interface BenchSettings {
  quick: boolean;
  /** Zip sizes whose copy is measured for peak RSS, in bytes. */
  rssSizes: number[];
  /** Zip size of the throughput comparison, in bytes; one of `rssSizes`. */
  throughputSize: number;
  /** Copies of each kind at `throughputSize`, alternating product and baseline; the median counts. */
  throughputRounds: number;
  /** Fresh processes per module variant in the cold-start comparison. */
  coldStartRuns: number;
  /** Signed callbacks sent one after another. */
  callbacks: number;
  /** Path of the Markdown report. */
  outputPath: string;
  /** Parent of the OSS emulator's data folder, which contains every object copied. */
  dataDir: string;
  /** The bench's own build output: bundled children, a snapshot of dist/ and the unbundled variant. Inside
   * the repository, so that the unbundled variant finds the repository's node_modules. */
  buildDir: string;
}

export const USAGE = `Usage: npm run bench [-- [--quick] [--output FILE]]

  --quick        64 and 128 MiB copies and fewer repetitions, for development
                 (same as BENCH_QUICK=1); writes .bench-data/benchmarks-quick.md unless --output is given
  --output FILE  write the Markdown report to FILE (default docs/benchmarks.md)

Environment:
  BENCH_QUICK=1        as --quick
  BENCH_DATA_DIR=DIR   folder for the OSS emulator's objects (default .bench-data in the repository);
                       needs about 3 times the largest size free
`;

export function readSettings(root: string, argv: readonly string[], env: NodeJS.ProcessEnv): BenchSettings {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const quick = argv.includes('--quick') || env.BENCH_QUICK === '1';
  const outputIndex = argv.indexOf('--output');
  const outputArgument = outputIndex === -1 ? undefined : argv[outputIndex + 1];
  if (outputIndex !== -1 && outputArgument === undefined) throw new Error(`--output needs a file name\n\n${USAGE}`);
  const benchDir = path.join(root, '.bench-data');
  const defaultOutput = quick ? path.join(benchDir, 'benchmarks-quick.md') : path.join(root, 'docs', 'benchmarks.md');

  return {
    quick,
    rssSizes: quick ? [64 * MiB, 128 * MiB] : [256 * MiB, 1 * GiB, 4 * GiB],
    throughputSize: quick ? 128 * MiB : 1 * GiB,
    throughputRounds: quick ? 1 : 3,
    coldStartRuns: quick ? 5 : 20,
    callbacks: 200,
    outputPath: path.resolve(outputArgument ?? defaultOutput),
    dataDir: path.resolve(root, env.BENCH_DATA_DIR ?? benchDir),
    buildDir: path.join(benchDir, 'build'),
  };
}
