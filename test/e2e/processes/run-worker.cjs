// Runs the bundled worker once in its own process, so that a test can kill it at any moment.
// Input (environment variable WORKER_INPUT, JSON): { handlerPath, env, context, event }.
const input = JSON.parse(process.env.WORKER_INPUT);
Object.assign(process.env, input.env);
const { handler } = require(input.handlerPath);

handler(Buffer.from(JSON.stringify(input.event)), input.context).then(
  (outcome) => process.stdout.write(`${JSON.stringify(outcome)}\n`),
  (error) => {
    process.stderr.write(`${error.stack}\n`);
    process.exitCode = 1;
  },
);
