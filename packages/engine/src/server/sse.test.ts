import { Writable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import { describe, expect, it } from 'vitest';
import { sseData } from './server.test-helpers.js';
import { mergeIndexed, peek, sendSse } from './sse.js';

/** A source that records whether it was closed; `stall` makes it wait forever after `n`. */
function source(values: number[], opts: { stall?: boolean } = {}) {
  const state = { closed: false };
  async function* gen() {
    try {
      for (const v of values) yield v;
      if (opts.stall) await new Promise(() => undefined);
    } finally {
      state.closed = true;
    }
  }
  return { state, stream: gen() };
}

/** A reply whose raw response is a slow writable (every write waits for drain). */
function slowReply() {
  let text = '';
  const raw = new Writable({
    highWaterMark: 1,
    write(chunk, _encoding, callback) {
      text += String(chunk);
      setTimeout(callback, 1);
    },
  }) as Writable & { writeHead(): void };
  raw.writeHead = () => undefined;
  const reply = { hijack: () => undefined, raw } as unknown as FastifyReply;
  return { reply, raw, text: () => text };
}

describe('sendSse', () => {
  it('waits for drain between writes and frames every event', async () => {
    const { reply, text } = slowReply();
    await sendSse(reply, source([1, 2, 3]).stream);
    expect(sseData(text())).toEqual(['1', '2', '3', '[DONE]']);
  });

  it('stops reading and closes the source when the client is gone', async () => {
    const { reply, raw } = slowReply();
    const src = source([1, 2, 3, 4]);
    let seen = 0;
    async function* events() {
      for await (const v of src.stream) {
        seen++;
        if (v === 2) raw.destroy();
        yield v;
      }
    }
    await sendSse(reply, events());
    expect(seen).toBe(2);
    expect(src.state.closed).toBe(true);
  });
});

describe('mergeIndexed', () => {
  it('interleaves sources with their index and closes the rest on early return', async () => {
    const a = source([1, 2, 3]);
    const b = source([10], { stall: true });
    const seen: Array<[number, number]> = [];
    for await (const { index, value } of mergeIndexed([a.stream, b.stream])) {
      seen.push([index, value]);
      if (seen.length === 3) break;
    }
    expect(seen).toContainEqual([1, 10]);
    expect(a.state.closed).toBe(true);
  });

  it('passes a source failure on and drains the rest', async () => {
    async function* failing() {
      yield 1;
      throw new Error('boom');
    }
    const ok = source([5, 6, 7]);
    const run = async () => {
      for await (const _ of mergeIndexed([failing(), ok.stream])) {
        // reads until the failure
      }
    };
    await expect(run()).rejects.toThrow('boom');
  });
});

describe('peek', () => {
  it('replays the first item and closes the source on close()', async () => {
    const src = source([1, 2]);
    const peeked = await peek(() => src.stream);
    await peeked.close();
    expect(src.state.closed).toBe(true);
    const again = await peek(() => source([7, 8]).stream);
    const values = [];
    for await (const v of again.stream) values.push(v);
    expect(values).toEqual([7, 8]);
  });

  it('turns a failure before the first item into a 400 RequestError', async () => {
    await expect(
      peek(() => {
        throw new Error('no');
      }),
    ).rejects.toMatchObject({ statusCode: 400, message: 'no' });
  });
});
