/** Entry point of the `ims-export` command; bundled into dist/cli/ims-export.cjs. */
import { runCli } from './cli';

runCli(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
