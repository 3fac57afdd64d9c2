/**
 * Callback response time: signed IMS callbacks sent one after another to the bundled callback function behind
 * an FC HTTP trigger in the cloud process, each timed from the POST until the whole response arrived.
 */
import { randomBytes } from 'node:crypto';
import { IMS_DELIVERY_RULE, sendIceCallback } from '../local/ims';
import type { CallbackTarget } from './cloud-server';
import type { RpcClient } from './ipc';
import { percentile } from './stats';

export interface CallbackTimes {
  count: number;
  /** Response time of the first callback, which also loads the function's settings and clients. */
  firstMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Callbacks that got no HTTP 200 within IMS's limit on their one attempt. */
  failures: number;
  limitMs: number;
}

/** Sends `count` callbacks to the bundle at `callbackPath`, served by the cloud process. */
export async function measureCallbacks(cloud: RpcClient, callbackPath: string, count: number): Promise<CallbackTimes> {
  const target = await cloud.call<CallbackTarget>('startCallbackTarget', { callbackPath });
  const times: number[] = [];
  let failures = 0;

  for (let index = 0; index < count; index += 1) {
    const jobId = randomBytes(16).toString('hex');
    // One attempt only: a retry would hide a slow or failed response behind a later fast one.
    const delivery = await sendIceCallback({
      url: target.url,
      authKey: target.authKey,
      messageBody: { JobId: jobId, Status: 'Success' },
      delivery: { attempts: 1 },
    });
    const attempt = delivery.attempts[0]!;
    times.push(attempt.durationMs);
    if (!attempt.delivered) failures += 1;
  }

  const result: CallbackTimes = {
    count,
    firstMs: times[0]!,
    p50Ms: percentile(times, 50),
    p99Ms: percentile(times, 99),
    maxMs: Math.max(...times),
    failures,
    limitMs: IMS_DELIVERY_RULE.timeoutMs,
  };
  console.log(`  ${count} callbacks: p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, max ${result.maxMs} ms, ${failures} without HTTP 200 in time`);
  return result;
}
