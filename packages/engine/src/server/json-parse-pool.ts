import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { Piscina } from 'piscina';
import type { JsonParseOutcome } from './json-parse.js';
import type { JsonParseTask } from './json-parse-worker.js';
import type { PromptBound } from './prompt-bound.js';

/** The parse threads' entry, resolved through this package's exports (dist/json-parse-worker.js). */
export function jsonParseWorkerUrl(): URL {
  return pathToFileURL(createRequire(import.meta.url).resolve('@ts/engine/json-parse-worker'));
}

/** A parse thread failed or the pool was closed: the body's request is answered 503. */
export class JsonParseThreadError extends Error {
  readonly statusCode = 503;
}

/**
 * Threads that parse large JSON bodies, so the event loop never holds a long `JSON.parse`.
 * A kept pool (Piscina) rather than a hand-made one: it queues bodies while every thread is
 * busy, moves each body's bytes instead of copying them, starts threads only when a body
 * comes and lets them go after `idleMs` idle, and replaces a thread that crashed.
 */
export class JsonParsePool {
  private readonly pool: Piscina<JsonParseTask, JsonParseOutcome>;

  constructor(options: { threads?: number; idleMs?: number; url?: URL } = {}) {
    this.pool = new Piscina({
      filename: (options.url ?? jsonParseWorkerUrl()).href,
      minThreads: 0,
      maxThreads: options.threads ?? Math.min(4, Math.max(1, availableParallelism() >> 1)),
      idleTimeout: options.idleMs ?? 30_000,
    });
  }

  /**
   * Parses a body in a thread. Each block must be over an ArrayBuffer of its own: the buffers
   * move there, so the blocks are empty here afterwards.
   */
  async parse(blocks: Uint8Array[], prompt: PromptBound | null): Promise<JsonParseOutcome> {
    const buffers = blocks.map((block) => block.buffer as ArrayBuffer);
    try {
      return await this.pool.run({ blocks, prompt }, { transferList: buffers });
    } catch (error) {
      throw new JsonParseThreadError(`the JSON parse thread failed: ${(error as Error).message}`);
    }
  }

  /** Stops the threads; bodies still being parsed fail (503). */
  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
