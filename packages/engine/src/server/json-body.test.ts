import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../engine/engine.js';
import { createServer, type ServerOptions } from './create-server.js';
import { INLINE_PARSE_BYTES } from './json-body.js';
import { JsonParsePool } from './json-parse-pool.js';
import { launchTiny } from './tiny-engine.test-helpers.js';

// The real engine on builtin:tiny with a context of 256 tokens: its byte tokenizer binds a
// token to at most one character.
let engine: Engine;
beforeAll(async () => {
  engine = await launchTiny({ maxContext: 256 });
});
afterAll(() => engine?.shutdown());

let app: FastifyInstance | undefined;
afterEach(() => app?.close());

function serve(options: ServerOptions = {}) {
  app = createServer(engine, options);
  return (url: string, payload: string | Readable, headers: Record<string, string> = {}) =>
    (app as FastifyInstance).inject({
      method: 'POST',
      url,
      payload,
      headers: { 'content-type': 'application/json', ...headers },
    });
}

const ids = (n: number) => Array.from({ length: n }, (_, i) => 97 + (i % 26));

describe('JSON bodies over 1 MiB, parsed in a parse thread', () => {
  it('reads a large valid body as a small one is read', async () => {
    const post = serve();
    const big = JSON.stringify({ tokens: ids(400_000) });
    expect(big.length).toBeGreaterThan(INLINE_PARSE_BYTES);
    const res = await post('/detokenize', big);
    expect(res.statusCode).toBe(200);
    expect(res.json().text).toHaveLength(400_000);
    expect((await post('/detokenize', JSON.stringify({ tokens: ids(3) }))).json()).toEqual({
      text: 'abc',
    });
  });

  it('refuses a prompt that cannot fit the context there (413), and invalid JSON (400)', async () => {
    const post = serve();
    const res = await post('/generate', JSON.stringify({ text: 'a'.repeat(2 * 1024 * 1024) }));
    expect(res.statusCode).toBe(413);
    expect(res.json()).toEqual({
      success: false,
      message:
        'text: 2097152 characters cannot fit the context of 256 tokens (a token of this tokenizer stands for at most 1 characters, so at most 256 fit)',
    });
    const small = await post('/generate', JSON.stringify({ text: ['ok', 'a'.repeat(300)] }));
    expect(small.json().message).toMatch(/^text\[1\]: 300 characters cannot fit/);
    const broken = await post('/detokenize', `{"tokens": [${ids(400_000)}`);
    expect(broken.statusCode).toBe(400);
    expect(broken.json().message).toMatch(/^body: invalid JSON: /);
  });

  it('refuses at once a body declaring more than its route takes; one passing it while read', async () => {
    const post = serve({ bodyLimit: 2 * 1024 * 1024 });
    const declared = await post('/tokenize', '{}', { 'content-length': String(5 * 1024 * 1024) });
    expect(declared.statusCode).toBe(413);
    // A prompt of this model (256 tokens of one character, a vocabulary of 258) needs about 1 MiB.
    expect(declared.json().message).toBe(
      `body: 5242880 bytes, more than the ${256 * 6 + 1024 * 1024 + 258 * 32} bytes POST /tokenize takes`,
    );
    const chunked = Readable.from([
      Buffer.from('{"tokens": ['),
      Buffer.alloc(3 * 1024 * 1024, '1'),
    ]);
    const streamed = await post('/detokenize', chunked);
    expect(streamed.statusCode).toBe(413);
    expect(streamed.json().message).toBe(
      'body: more than the 2097152 bytes POST /detokenize takes',
    );
  });
});

describe('JsonParsePool', () => {
  it('moves the blocks to the thread rather than copying them', async () => {
    const pool = new JsonParsePool({ threads: 1 });
    try {
      const blocks = [Buffer.from('{"a": [1,'), Buffer.from(' 2]}')].map((b) => new Uint8Array(b));
      expect(await pool.parse(blocks, null)).toEqual({ value: { a: [1, 2] } });
      expect(blocks.map((b) => b.byteLength)).toEqual([0, 0]);
    } finally {
      await pool.close();
    }
  });
});
