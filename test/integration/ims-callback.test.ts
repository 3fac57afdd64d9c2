import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CredentialStore } from '../../local/common/credentials';
import { closeServer, listenOnLoopback, readBody, sleep } from '../../local/common/http';
import { iceCallbackSignature, startImsEmulator, type ImsEmulator } from '../../local/ims';

interface ReceivedCallback {
  atMs: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A loopback HTTP receiver that responds to each POST with the next scripted status, after an optional delay. */
class CallbackReceiver {
  readonly received: ReceivedCallback[] = [];
  readonly #replies: Array<{ status: number; delayMs?: number }>;
  readonly #server: Server;
  url = '';

  constructor(replies: Array<{ status: number; delayMs?: number }>) {
    this.#replies = replies;
    this.#server = createServer((request, response) => {
      void (async () => {
        const body = await readBody(request);
        this.received.push({ atMs: Date.now(), headers: request.headers, body: body.toString('utf8') });
        const reply = this.#replies[Math.min(this.received.length, this.#replies.length) - 1]!;
        if (reply.delayMs !== undefined) await sleep(reply.delayMs);
        response.writeHead(reply.status).end('ok');
      })();
    });
  }

  async start(): Promise<void> {
    this.url = `${(await listenOnLoopback(this.#server)).url}/ims/callback`;
  }

  async close(): Promise<void> {
    await closeServer(this.#server);
  }
}

let ims: ImsEmulator;
let receiver: CallbackReceiver | undefined;

beforeEach(async () => {
  ims = await startImsEmulator({ credentials: new CredentialStore() });
});

afterEach(async () => {
  await receiver?.close();
  await ims.close();
});

async function startReceiver(replies: Array<{ status: number; delayMs?: number }>): Promise<CallbackReceiver> {
  receiver = new CallbackReceiver(replies);
  await receiver.start();
  return receiver;
}

describe('sendCallback', () => {
  it('signs with the callback URL', async () => {
    const target = await startReceiver([{ status: 200 }]);
    await ims.sendCallback({ url: target.url, authKey: 'Key123abc', messageBody: { JobId: 'job-1' } });

    const headers = target.received[0]!.headers;
    const expected = iceCallbackSignature(target.url, String(headers['x-ice-timestamp']), 'Key123abc');

    expect(headers['x-ice-signature']).toBe(expected);
  });

  it('signs the configured URL when given', async () => {
    const target = await startReceiver([{ status: 200 }]);
    const configured = 'https://callback.example.com/ims';
    await ims.sendCallback({ url: target.url, callbackUrl: configured, authKey: 'Key123abc', messageBody: {}, timestampSeconds: 1700000000 });

    const headers = target.received[0]!.headers;

    expect(headers['x-ice-timestamp']).toBe('1700000000');
    expect(headers['x-ice-signature']).toBe(iceCallbackSignature(configured, 1700000000, 'Key123abc'));
  });

  it('omits auth headers without a key', async () => {
    const target = await startReceiver([{ status: 200 }]);
    await ims.sendCallback({ url: target.url, messageBody: {} });

    const headers = target.received[0]!.headers;

    expect(headers['x-ice-signature']).toBeUndefined();
    expect(headers['x-ice-timestamp']).toBeUndefined();
  });

  it('posts the IMS envelope', async () => {
    const target = await startReceiver([{ status: 200 }]);
    await ims.sendCallback({ url: target.url, userId: 1234, messageBody: { JobId: 'job-1', Status: 'Success' }, timestampSeconds: 1519375990 });

    const envelope = JSON.parse(target.received[0]!.body) as Record<string, unknown>;

    expect(envelope).toEqual({
      EventType: 'ProjectExportComplete',
      UserId: 1234,
      EventTime: '2018-02-23T08:53:10Z',
      MessageBody: { JobId: 'job-1', Status: 'Success' },
    });
    expect(target.received[0]!.headers['content-type']).toBe('application/json');
  });

  it('sends a chosen event type', async () => {
    const target = await startReceiver([{ status: 200 }]);
    await ims.sendCallback({ url: target.url, eventType: 'ProduceMediaComplete', messageBody: {} });
    expect(JSON.parse(target.received[0]!.body)).toHaveProperty('EventType', 'ProduceMediaComplete');
  });

  it('makes 3 attempts 1 s apart on 500', async () => {
    const target = await startReceiver([{ status: 500 }]);

    const delivery = await ims.sendCallback({ url: target.url, messageBody: {} });
    const gaps = target.received.slice(1).map((callback, index) => callback.atMs - target.received[index]!.atMs);

    expect(delivery.delivered).toBe(false);
    expect(delivery.attempts.map((attempt) => attempt.status)).toEqual([500, 500, 500]);
    expect(target.received).toHaveLength(3);
    for (const gap of gaps) {
      expect(gap).toBeGreaterThanOrEqual(900);
      expect(gap).toBeLessThan(3000);
    }
  });

  it('stops at the first 200', async () => {
    const target = await startReceiver([{ status: 500 }, { status: 200 }]);

    const delivery = await ims.sendCallback({ url: target.url, messageBody: {} });

    expect(delivery.delivered).toBe(true);
    expect(delivery.attempts.map((attempt) => attempt.status)).toEqual([500, 200]);
    expect(target.received).toHaveLength(2);
  });

  it('treats other 2xx as failure', async () => {
    const target = await startReceiver([{ status: 204 }, { status: 200 }]);
    const delivery = await ims.sendCallback({ url: target.url, messageBody: {}, delivery: { retryIntervalMs: 10 } });
    expect(delivery.attempts.map((attempt) => attempt.delivered)).toEqual([false, true]);
  });

  it('times out a receiver slower than 3 s', async () => {
    const target = await startReceiver([{ status: 200, delayMs: 3500 }, { status: 200 }]);

    const delivery = await ims.sendCallback({ url: target.url, messageBody: {} });
    const [slow, retry] = delivery.attempts;

    expect(slow?.error).toBe('timed out after 3000 ms');
    expect(slow?.durationMs).toBeGreaterThanOrEqual(2900);
    expect(retry?.status).toBe(200);
  });

  it('gives up when every attempt is slow', async () => {
    const target = await startReceiver([{ status: 200, delayMs: 400 }]);

    const delivery = await ims.sendCallback({ url: target.url, messageBody: {}, delivery: { timeoutMs: 100, retryIntervalMs: 10 } });

    expect(delivery.delivered).toBe(false);
    expect(delivery.attempts.map((attempt) => attempt.error)).toEqual(Array(3).fill('timed out after 100 ms'));
  });

  it('reports a refused connection', async () => {
    const target = await startReceiver([{ status: 200 }]);
    await target.close();
    receiver = undefined;

    const delivery = await ims.sendCallback({ url: target.url, messageBody: {}, delivery: { retryIntervalMs: 10 } });

    expect(delivery.attempts).toHaveLength(3);
    expect(delivery.attempts[0]?.error).toContain('ECONNREFUSED');
  });
});
