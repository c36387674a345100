import type { FastifyReply } from 'fastify';
import { asRequestError, messageOf } from './errors.js';

/**
 * Runs `fn` once if the client goes away before the reply is complete (so the request can be
 * aborted). The check is on the response: a finished reply closes too, but is complete.
 */
export function onClientGone(reply: FastifyReply, fn: () => void): void {
  const res = reply.raw;
  res.once('close', () => {
    if (!res.writableFinished) fn();
  });
}

export interface Peeked<T> {
  /** The whole stream again, its first item included; closing it closes the source. */
  stream: AsyncGenerator<T>;
  /** Closes the source without reading it (when a sibling stream failed). */
  close(): Promise<void>;
}

/**
 * Waits for a stream's first item, so a request the engine refuses is still answered with
 * a plain 400 (nothing has been sent yet) rather than an error inside an event stream.
 */
export async function peek<T>(open: () => AsyncIterable<T>): Promise<Peeked<T>> {
  let iterator: AsyncIterator<T>;
  let first: IteratorResult<T>;
  try {
    iterator = open()[Symbol.asyncIterator]();
    first = await iterator.next();
  } catch (error) {
    throw asRequestError(error);
  }
  const source = iterator;
  async function* replay(): AsyncGenerator<T> {
    try {
      let step = first;
      while (!step.done) {
        yield step.value;
        step = await source.next();
      }
    } finally {
      await source.return?.();
    }
  }
  return {
    stream: replay(),
    close: async () => {
      await source.return?.();
    },
  };
}

/**
 * Sends `events` as Server-Sent Events: `data: <json>\n\n` each, then `data: [DONE]\n\n`.
 * An error after the first event is sent as `data: {"error":{"message"}}` before `[DONE]`.
 * Stops reading (and closes `events`) when the client goes away. Resolves when done.
 */
export async function sendSse(reply: FastifyReply, events: AsyncIterable<unknown>): Promise<void> {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  const write = async (data: string): Promise<void> => {
    if (res.destroyed || res.writableEnded) return;
    if (!res.write(`data: ${data}\n\n`)) await drained(res);
  };
  try {
    for await (const event of events) {
      if (res.destroyed) break;
      await write(JSON.stringify(event));
    }
  } catch (error) {
    await write(JSON.stringify({ error: { message: messageOf(error), type: 'server_error' } }));
  }
  await write('[DONE]');
  if (!res.destroyed) res.end();
}

function drained(res: FastifyReply['raw']): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/**
 * Interleaves several streams as their items come, tagging each with its stream's index.
 * Returning early closes every source.
 */
export async function* mergeIndexed<T>(
  sources: AsyncIterable<T>[],
): AsyncGenerator<{ index: number; value: T }> {
  const iterators = sources.map((s) => s[Symbol.asyncIterator]());
  const pending = new Map<number, Promise<{ index: number; step: IteratorResult<T> }>>();
  const pull = (index: number) => {
    const it = iterators[index] as AsyncIterator<T>;
    pending.set(
      index,
      it.next().then((step) => ({ index, step })),
    );
  };
  iterators.forEach((_, index) => {
    pull(index);
  });
  try {
    while (pending.size > 0) {
      const { index, step } = await Promise.race(pending.values());
      pending.delete(index);
      if (step.done) continue;
      pull(index);
      yield { index, value: step.value };
    }
  } finally {
    // Not awaited: a source busy in next() handles return() only after that settles.
    for (const [index, next] of pending) {
      next.catch(() => undefined);
      Promise.resolve(iterators[index]?.return?.()).catch(() => undefined);
    }
  }
}
