// Prints the last vitest run's totals as one plain line, "N passed, N failed, N skipped", for CI logs.
import { readFile } from 'node:fs/promises';

const report = JSON.parse(await readFile(new URL('../test-results/vitest.json', import.meta.url), 'utf8'));
const skipped = report.numPendingTests + report.numTodoTests;
console.log(`${report.numPassedTests} passed, ${report.numFailedTests} failed, ${skipped} skipped`);
