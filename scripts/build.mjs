// Bundles each function under functions/<name>/index.ts into dist/<name>/index.js (handler `index.handler`),
// and the command-line tool into dist/cli/ims-export.cjs. One self-contained CommonJS file per function keeps
// cold starts from loading code the function never uses.
import { build } from 'esbuild';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const functionsDir = path.join(root, 'functions');
const distDir = path.join(root, 'dist');

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: 'linked',
  legalComments: 'linked',
  metafile: true,
  logLevel: 'warning',
  // urllib (under ali-oss) loads proxy-agent only when a proxy is configured, which this product never does.
  external: ['proxy-agent'],
  // A few lines in place of iconv-lite's encoding tables, about a third of each bundle; see the shim.
  alias: { 'iconv-lite': path.join(root, 'scripts', 'shims', 'iconv-lite.cjs') },
};

async function functionNames() {
  const names = [];
  for (const entry of await readdir(functionsDir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const indexFile = path.join(functionsDir, entry.name, 'index.ts');
    if (await stat(indexFile).catch(() => undefined)) names.push(entry.name);
  }
  return names.sort();
}

function outputKiB(result) {
  const bytes = Object.values(result.metafile.outputs).find((output) => output.entryPoint)?.bytes ?? 0;
  return `${(bytes / 1024).toFixed(0)} KiB`;
}

await rm(distDir, { recursive: true, force: true });

for (const name of await functionNames()) {
  const outDir = path.join(distDir, name);
  await mkdir(outDir, { recursive: true });
  const result = await build({
    ...common,
    entryPoints: [path.join(functionsDir, name, 'index.ts')],
    outfile: path.join(outDir, 'index.js'),
    minify: true,
  });
  // The repository's package.json sets "type": "module", so this marker keeps Node loading the bundle as
  // CommonJS when tests import it from dist/, as FC does from the deployed folder.
  await writeFile(path.join(outDir, 'package.json'), '{ "type": "commonjs" }\n');
  console.log(`built dist/${name}/index.js (${outputKiB(result)})`);
}

const cli = await build({
  ...common,
  entryPoints: [path.join(root, 'lib', 'cli-main.ts')],
  outfile: path.join(distDir, 'cli', 'ims-export.cjs'),
  banner: { js: '#!/usr/bin/env node' },
});
console.log(`built dist/cli/ims-export.cjs (${outputKiB(cli)})`);
