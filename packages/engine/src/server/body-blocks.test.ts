import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BLOCK_BYTES, readBodyBlocks } from './body-blocks.js';

/** `count` chunks of `size` bytes (chunk i filled with i % 256), counting those pulled. */
function chunks(count: number, size: number) {
  const pulled = { n: 0 };
  const stream = Readable.from(
    (function* () {
      for (let i = 0; i < count; i++) {
        pulled.n++;
        yield Buffer.alloc(size, i % 256);
      }
    })(),
    { objectMode: false },
  );
  return { stream, pulled };
}

describe('readBodyBlocks', () => {
  it('keeps every byte in order, in blocks of at most BLOCK_BYTES over buffers of their own', async () => {
    const { stream } = chunks(40, 100_000);
    const blocks = await readBodyBlocks(stream, 10 * BLOCK_BYTES, undefined, 'POST /x');
    const body = Buffer.concat(blocks);
    expect(body.byteLength).toBe(4_000_000);
    for (const at of [0, 99_999, 100_000, 3_999_999])
      expect(body[at]).toBe(Math.floor(at / 100_000));
    const buffers = new Set(blocks.map((b) => b.buffer));
    expect(buffers.size).toBe(blocks.length);
    for (const block of blocks) expect(block.buffer.byteLength).toBeLessThanOrEqual(BLOCK_BYTES);
  });

  it('sizes its one block by the Content-Length', async () => {
    const { stream } = chunks(3, 1000);
    const blocks = await readBodyBlocks(stream, BLOCK_BYTES, 3000, 'POST /x');
    expect(blocks.map((b) => [b.byteLength, b.buffer.byteLength])).toEqual([[3000, 3000]]);
  });

  it('refuses 413 as soon as the body passes the limit, reading no further', async () => {
    const { stream, pulled } = chunks(1000, 64 * 1024);
    const reading = readBodyBlocks(stream, 1024 * 1024, undefined, 'POST /generate');
    await expect(reading).rejects.toMatchObject({
      statusCode: 413,
      message: 'body: more than the 1048576 bytes POST /generate takes',
    });
    expect(pulled.n).toBeLessThan(20);
  });

  it('answers 400 for a body cut short', async () => {
    const stream = new Readable({ read() {} });
    stream.push(Buffer.from('{"te'));
    setImmediate(() => stream.destroy(new Error('aborted')));
    await expect(readBodyBlocks(stream, 100, undefined, 'POST /x')).rejects.toMatchObject({
      statusCode: 400,
    });
  });
});
