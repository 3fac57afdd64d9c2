/**
 * Records what the reliability tests observed, for `scripts/reliability-report.mjs`. The script sets
 * RELIABILITY_RESULTS_FILE to a JSON-lines file of its own run. Without it (as in `npm test`) nothing is
 * written and the tests only assert.
 */
import { appendFileSync } from 'node:fs';

export const RESULTS_FILE_VARIABLE = 'RELIABILITY_RESULTS_FILE';

/** One cell of the fault matrix: a fault in one component, what the run returned, and each invariant checked. */
export interface FaultCellResult {
  kind: 'fault-cell';
  /** Test name with its describe blocks, `<describe> > <it>`, to match the cell with its status in the test report. */
  test: string;
  component: string;
  fault: string;
  variant: string;
  exportType: string;
  expected: 'copied' | 'due';
  outcome: string;
  reason: string | undefined;
  /** Invariant name → whether it held. */
  checks: Record<string, boolean>;
}

/** A fault left out of the matrix on purpose, with the reason. */
export interface LeftOutResult {
  kind: 'left-out';
  component: string;
  fault: string;
  reason: string;
}

/** One flow of the secrets test: how much output was captured and which secrets appeared in it. */
export interface SecretsResult {
  kind: 'secrets';
  /** Test name with its describe blocks, `<describe> > <it>`. */
  test: string;
  flow: string;
  /** Bytes searched: process output, return values, HTTP responses and JSON objects in the bucket. */
  bytesSearched: number;
  /** Distinct secret values searched for, by kind. */
  secretsByKind: Record<string, number>;
  /** Kind and place of each secret found, never the value itself. */
  leaks: string[];
}

export type ReliabilityResult = FaultCellResult | LeftOutResult | SecretsResult;

/** Appends one result to the file named by RELIABILITY_RESULTS_FILE, when it is set. */
export function recordResult(result: ReliabilityResult): void {
  const file = process.env[RESULTS_FILE_VARIABLE];
  if (file === undefined || file === '') return;
  appendFileSync(file, `${JSON.stringify(result)}\n`);
}
