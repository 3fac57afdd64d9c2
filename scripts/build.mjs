// Bundles each function under functions/<name>/index.ts into dist/<name>/index.js (handler `index.handler`).
// One self-contained CommonJS file per function keeps cold starts from loading code the function never uses.
import { build } from 'esbuild';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const functionsDir = path.join(root, 'functions');
const distDir = path.join(root, 'dist');

async function functionNames() {
  const names = [];
  for (const entry of await readdir(functionsDir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const indexFile = path.join(functionsDir, entry.name, 'index.ts');
    if (await stat(indexFile).catch(() => undefined)) names.push(entry.name);
  }
  return names.sort();
}

await rm(distDir, { recursive: true, force: true });
for (const name of await functionNames()) {
  const outDir = path.join(distDir, name);
  await mkdir(outDir, { recursive: true });
  const result = await build({
    entryPoints: [path.join(functionsDir, name, 'index.ts')],
    outfile: path.join(outDir, 'index.js'),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minify: true,
    sourcemap: 'linked',
    legalComments: 'linked',
    metafile: true,
    logLevel: 'warning',
  });
  // The repository's package.json says "type": "module"; this marker keeps Node loading the bundle as
  // CommonJS when tests import it from dist/, as FC does from the deployed folder.
  await writeFile(path.join(outDir, 'package.json'), '{ "type": "commonjs" }\n');
  const bytes = Object.values(result.metafile.outputs).find((output) => output.entryPoint)?.bytes ?? 0;
  console.log(`built dist/${name}/index.js (${(bytes / 1024).toFixed(0)} KiB)`);
}
