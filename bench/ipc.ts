/**
 * Message passing between `bench/run.ts` and the processes it forks. Everything crosses the Node IPC
 * channel, so the emulators' generated keys stay in memory and pipes and are never written to a file.
 */
import { fork, type ChildProcess, type ForkOptions } from 'node:child_process';

/** A request from the parent to a long-running child such as the cloud server. */
export interface RpcRequest {
  kind: 'request';
  id: number;
  method: string;
  params: unknown;
}

/** The child's reply to one `RpcRequest`: `result` on success, `error` (a message) on failure. */
export interface RpcReply {
  kind: 'reply';
  id: number;
  result?: unknown;
  error?: string;
}

/** The first message a long-running child sends once it is ready to take requests. */
export interface ReadyMessage<T> {
  kind: 'ready';
  info: T;
}

export type RpcHandlers = Record<string, (params: never) => Promise<unknown>>;

/** Starts a long-running child and resolves with the info of its `ready` message. */
export async function startServerProcess<T>(modulePath: string, args: string[], options: ForkOptions): Promise<{ child: ChildProcess; info: T; client: RpcClient }> {
  const child = fork(modulePath, args, { ...options, serialization: 'advanced' });
  const info = await new Promise<T>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`${modulePath} exited with code ${code} before it was ready`));
    child.once('exit', onExit);
    child.once('error', reject);
    child.once('message', (message: ReadyMessage<T>) => {
      child.off('exit', onExit);
      child.off('error', reject);
      if (message.kind === 'ready') resolve(message.info);
      else reject(new Error(`${modulePath} sent "${String(message.kind)}" before "ready"`));
    });
  });
  return { child, info, client: new RpcClient(child) };
}

/** Sends requests to a child that runs `serveRequests`, matching each reply to its request by id. */
export class RpcClient {
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  #nextId = 1;

  constructor(child: ChildProcess) {
    this.#child = child;
    child.on('message', (message: RpcReply) => {
      if (message.kind !== 'reply') return;
      const pending = this.#pending.get(message.id);
      if (pending === undefined) return;
      this.#pending.delete(message.id);
      if (message.error === undefined) pending.resolve(message.result);
      else pending.reject(new Error(message.error));
    });
    child.on('exit', (code) => {
      for (const pending of this.#pending.values()) pending.reject(new Error(`the child process exited with code ${code} before it replied`));
      this.#pending.clear();
    });
  }

  call<R>(method: string, params: unknown = {}): Promise<R> {
    const id = this.#nextId;
    this.#nextId += 1;
    return new Promise<R>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.#child.send({ kind: 'request', id, method, params } satisfies RpcRequest);
    });
  }
}

/** In a child: sends `ready` with `info`, then replies to each request with the handler of its method. */
export function serveRequests(info: unknown, handlers: RpcHandlers): void {
  const send = requireChannel();
  process.on('message', (message: RpcRequest) => {
    if (message.kind !== 'request') return;
    const handler = handlers[message.method];
    const reply = (fields: Omit<RpcReply, 'kind' | 'id'>) => send({ kind: 'reply', id: message.id, ...fields } satisfies RpcReply);
    if (handler === undefined) {
      reply({ error: `unknown method "${message.method}"` });
      return;
    }
    handler(message.params as never).then(
      (result) => reply({ result }),
      (error: unknown) => reply({ error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
    );
  });
  send({ kind: 'ready', info } satisfies ReadyMessage<unknown>);
}

/**
 * Runs a one-shot child: forks `modulePath` with plain `node` (no loader, so that its memory is its own),
 * sends it `task`, and resolves with the one message it sends back before exiting.
 */
export function runTaskProcess<R>(modulePath: string, task: unknown): Promise<R> {
  const child = fork(modulePath, [], { execArgv: [], serialization: 'advanced', stdio: 'inherit' });
  return new Promise<R>((resolve, reject) => {
    let result: { value: R } | undefined;
    child.once('message', (message: R) => {
      result = { value: message };
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (result !== undefined && code === 0) resolve(result.value);
      else reject(new Error(`${modulePath} exited with code ${code}${result === undefined ? ' without a result' : ''}`));
    });
    child.send(task as never);
  });
}

/** In a one-shot child: waits for the task, runs it, sends the result and exits. */
export function runTask<T, R>(work: (task: T) => Promise<R>): void {
  requireChannel();
  process.once('message', (task: T) => {
    work(task).then(
      // Exits explicitly: keep-alive sockets of the SDK clients would otherwise hold the process open.
      (result) => void process.send!(result as never, () => process.exit(0)),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  });
}

function requireChannel(): (message: unknown) => void {
  const send = process.send?.bind(process);
  if (send === undefined) throw new Error('this script must be started by bench/run.ts with an IPC channel');
  return (message) => void send(message as never);
}
