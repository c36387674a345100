import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createServer } from './create-server.js';
import { FakeEngine } from './server.test-helpers.js';

let app: FastifyInstance;
beforeEach(() => {
  app = createServer(new FakeEngine());
});
afterEach(() => app.close());

const post = (url: string, payload: object) => app.inject({ method: 'POST', url, payload });

describe('POST /tokenize and /detokenize', () => {
  it("tokenizes with the model's tokenizer, BOS unless asked not to, and decodes back", async () => {
    const res = await post('/tokenize', { prompt: 'ab' });
    expect(res.json()).toEqual({ tokens: [1, 97, 98], count: 3, max_model_len: 256 });
    const bare = await post('/tokenize', { text: 'ab', add_special_tokens: false });
    expect(bare.json().tokens).toEqual([97, 98]);
    expect((await post('/detokenize', { tokens: [1, 97, 98] })).json()).toEqual({
      text: '\u0001ab',
    });
    const skipped = await post('/detokenize', { tokens: [1, 97], skip_special_tokens: true });
    expect(skipped.json()).toEqual({ text: 'a' });
  });

  it('answers 400 for a missing prompt, bad tokens and a refusal', async () => {
    expect((await post('/tokenize', {})).json().message).toContain('give prompt');
    expect((await post('/detokenize', { tokens: [-1] })).statusCode).toBe(400);
    const refused = await post('/tokenize', { prompt: 'refuse' });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().message).toContain('unknown special token');
  });
});
