import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../engine/engine.js';
import { createServer } from './create-server.js';
import { launchTiny } from './tiny-engine.test-helpers.js';

// builtin:tiny's tokenizer: one id per byte, BOS 256 (`<s>`), EOS 257, a 2048-token context.
let engine: Engine;
let app: FastifyInstance;
beforeAll(async () => {
  engine = await launchTiny();
  app = createServer(engine);
});
afterAll(async () => {
  await app?.close();
  await engine?.shutdown();
});

const post = (url: string, payload: object) => app.inject({ method: 'POST', url, payload });

describe('POST /tokenize and /detokenize', () => {
  it("tokenizes with the model's tokenizer, BOS unless asked not to, and decodes back", async () => {
    const res = await post('/tokenize', { prompt: 'ab' });
    expect(res.json()).toEqual({ tokens: [256, 97, 98], count: 3, max_model_len: 2048 });
    const bare = await post('/tokenize', { text: 'ab', add_special_tokens: false });
    expect(bare.json().tokens).toEqual([97, 98]);
    expect((await post('/detokenize', { tokens: [256, 97, 98] })).json()).toEqual({
      text: '<s>ab',
    });
    const skipped = await post('/detokenize', {
      tokens: [256, 97, 257],
      skip_special_tokens: true,
    });
    expect(skipped.json()).toEqual({ text: 'a' });
  });

  it("answers 400 for a missing prompt, bad tokens and an id outside the model's vocabulary", async () => {
    expect((await post('/tokenize', {})).json().message).toContain('give prompt');
    expect((await post('/detokenize', { tokens: [-1] })).statusCode).toBe(400);
    const refused = await post('/detokenize', { tokens: [300] });
    expect(refused.statusCode).toBe(400);
    expect(refused.json()).toEqual({
      success: false,
      message: 'token id 300 is outside the vocabulary [0, 258)',
    });
  });
});
