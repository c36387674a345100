import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { EncodeReply, EncodeRequest } from './tokenizer-service.js';

/** The tokenizer thread's entry, resolved through this package's exports (dist/tokenizer-worker.js). */
export function tokenizerWorkerUrl(): URL {
  return pathToFileURL(createRequire(import.meta.url).resolve('@ts/engine/tokenizer-worker'));
}

/** The tokenizer thread failed or exited: its requests are answered 503. */
export class TokenizerThreadError extends Error {
  readonly statusCode = 503;
}

interface Pending {
  resolve: (ids: number[]) => void;
  reject: (error: Error) => void;
}

/**
 * The main side of a worker thread that holds its own copy of a model's tokenizer. Started at
 * once when `eager` (so the first long prompt does not wait for the copy to load), else at the
 * first request; one that crashes fails its requests and starts again at the next. The thread
 * keeps the process alive only while it has requests.
 */
export class TokenizerThread {
  private worker: Worker | null = null;
  private readonly url: URL;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  constructor(
    private readonly model: string,
    options: { eager?: boolean; url?: URL } = {},
  ) {
    this.url = options.url ?? tokenizerWorkerUrl();
    if (options.eager) this.start();
  }

  /** `tokenizer.encode(text)` in the thread; requests are answered in order. */
  encode(text: string, addSpecialTokens: boolean): Promise<number[]> {
    const worker = this.worker ?? this.start();
    const id = this.nextId++;
    if (this.pending.size === 0) worker.ref();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, text, addSpecialTokens } satisfies EncodeRequest);
    });
  }

  /** Stops the thread; requests still waiting fail. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    this.failAll('the tokenizer thread was closed');
    await worker?.terminate();
  }

  private start(): Worker {
    const worker = new Worker(this.url, { workerData: { model: this.model } });
    worker.unref();
    worker.on('message', (reply: EncodeReply) => {
      const waiting = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if ('ids' in reply) waiting?.resolve(toArray(reply.ids));
      else waiting?.reject(new Error(reply.error));
      if (this.pending.size === 0) worker.unref();
    });
    worker.on('error', (error) =>
      this.lost(worker, `the tokenizer thread failed: ${error.message}`),
    );
    worker.on('exit', (code) => this.lost(worker, `the tokenizer thread exited (code ${code})`));
    this.worker = worker;
    return worker;
  }

  private lost(worker: Worker, reason: string): void {
    if (this.worker !== worker) return;
    this.worker = null;
    this.failAll(reason);
  }

  private failAll(reason: string): void {
    for (const { reject } of this.pending.values()) reject(new TokenizerThreadError(reason));
    this.pending.clear();
  }
}

/** A plain array of the ids (a loop: Array.from over a typed array is several times slower). */
function toArray(ids: Uint32Array): number[] {
  const out = new Array<number>(ids.length);
  for (let i = 0; i < ids.length; i++) out[i] = ids[i] as number;
  return out;
}
