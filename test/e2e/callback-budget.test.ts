import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FcHttpResponse } from '../../lib/fc-types';
import { startLocalCloud, type LocalCloud } from '../../local/cloud';
import type { HttpTrigger } from '../../local/fc/http-trigger';
import { loadBundledHandler } from './helpers';

const WORKER_FUNCTION = 'ims-export-sync-worker';
const TOKEN = `token-${Math.random().toString(36).slice(2)}-${Date.now()}`;

let cloud: LocalCloud;
let trigger: HttpTrigger;

beforeAll(async () => {
  cloud = await startLocalCloud();
  Object.assign(process.env, cloud.env({ LOG_LEVEL: 'error', CALLBACK_TOKEN: TOKEN, WORKER_FUNCTION }));
  cloud.fc.register(WORKER_FUNCTION, async () => ({ outcome: 'pending' }));
  trigger = await cloud.httpTrigger('ims-export-sync-callback', loadBundledHandler<FcHttpResponse>('callback'));
});

afterAll(async () => {
  await cloud.close();
});

async function postCallback(jobId: string): Promise<{ status: number; body: Record<string, unknown>; elapsedMs: number }> {
  const startedAt = Date.now();
  const response = await fetch(`${trigger.url}/callback?token=${TOKEN}`, { method: 'POST', body: JSON.stringify({ JobId: jobId }) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown>, elapsedMs: Date.now() - startedAt };
}

describe('callback time budget', () => {
  it('asks for a retry when the hand-off is slow', async () => {
    cloud.fc.faults.add({ kind: 'delay', ms: 4_000 });

    const answer = await postCallback('slow0handoff000000000000000000001');

    expect(answer.status).toBe(503);
    expect(answer.body.error).toBe('the job was not recorded and handed off in time; send the callback again');
    expect(answer.elapsedMs).toBeLessThan(3_000);
  });

  it('keeps endpoints out of a failed hand-off answer', async () => {
    cloud.fc.faults.add({ kind: 'error', status: 503 });

    const answer = await postCallback('failed0handoff00000000000000000001');

    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ accepted: true, mode: 'dispatch-failed', jobId: 'failed0handoff00000000000000000001' });
    expect(JSON.stringify(answer.body)).not.toContain('127.0.0.1');
  });
});
