import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Engine } from '../engine/engine.js';
import type { GenerateInput } from '../engine-api.js';
import { createServer } from './create-server.js';
import { sseData } from './server.test-helpers.js';
import { launchTiny, recordCalls } from './tiny-engine.test-helpers.js';

// /v1/completions against the real engine on builtin:tiny (a byte tokenizer: BOS 256, then one
// id per byte), one for the file; the calls the route makes on it are recorded test by test.
let engine: Engine;
let app: FastifyInstance;
beforeAll(async () => {
  engine = await launchTiny();
  app = createServer(engine, { modelName: 'tiny' });
});
afterAll(async () => {
  await app?.close();
  await engine?.shutdown();
});

let calls: Array<[string, unknown]>;
beforeEach(() => {
  calls = recordCalls(engine, ['generate', 'generateStream']);
});
afterEach(() => vi.restoreAllMocks());

/** The inputs the route handed to `generate` or `generateStream`, in order. */
const generated = () =>
  calls.filter(([name]) => name.startsWith('generate')).map(([, input]) => input as GenerateInput);

const post = (url: string, payload: unknown) =>
  app.inject({ method: 'POST', url, payload: payload as object });

function events(payload: string) {
  const data = sseData(payload);
  expect(data.at(-1)).toBe('[DONE]');
  return data.slice(0, -1).map((d) => JSON.parse(d));
}

describe('POST /v1/completions', () => {
  it("answers OpenAI's text_completion with usage, with OpenAI's sampling defaults", async () => {
    const res = await post('/v1/completions', {
      model: 'x',
      prompt: 'hey',
      max_tokens: 2,
      seed: 3,
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    const text = body.choices[0].text;
    expect(body).toEqual({
      id: expect.stringMatching(/^cmpl-[0-9a-f]{32}$/),
      object: 'text_completion',
      created: expect.any(Number),
      model: 'x',
      choices: [{ index: 0, text, logprobs: null, finish_reason: 'length' }],
      usage: { prompt_tokens: 4, completion_tokens: 2, total_tokens: 6 },
    });
    expect(generated()[0]).toEqual({
      text: 'hey',
      samplingParams: { maxNewTokens: 2, temperature: 1, topP: 1, seed: 3 },
      rid: body.id,
    });
  });

  it("takes vLLM's truncate_prompt_tokens, counting the kept prompt tokens in usage", async () => {
    const res = await post('/v1/completions', {
      prompt: 'hello',
      max_tokens: 1,
      temperature: 0,
      truncate_prompt_tokens: 2,
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().usage).toEqual({ prompt_tokens: 2, completion_tokens: 1, total_tokens: 3 });
    expect(generated()[0]?.samplingParams).toMatchObject({ truncatePromptTokens: 2 });
  });

  it("answers the chosen tokens' logprobs for logprobs 0, whole and streamed", async () => {
    const greedy = { prompt: 'hey', max_tokens: 2, temperature: 0 };
    const res = await post('/v1/completions', { ...greedy, logprobs: 0 });
    const whole = res.json().choices[0].logprobs;
    expect(whole).toEqual({
      tokens: [expect.any(String), expect.any(String)],
      token_logprobs: [expect.any(Number), expect.any(Number)],
      top_logprobs: null,
      text_offset: [0, whole.tokens[0].length],
    });
    expect(whole.tokens.join('')).toBe(res.json().choices[0].text);
    expect(generated()[0]).toMatchObject({ returnLogprob: true, returnTextInLogprobs: true });
    const streamed = await post('/v1/completions', { ...greedy, logprobs: 0, stream: true });
    // A chunk carries the tokens made since the last one (the first, none): joined, the
    // chunks' logprobs are the whole reply's.
    const chunks = events(streamed.payload).map((c) => c.choices[0].logprobs);
    expect({
      tokens: chunks.flatMap((l) => l.tokens),
      token_logprobs: chunks.flatMap((l) => l.token_logprobs),
      top_logprobs: null,
      text_offset: chunks.flatMap((l) => l.text_offset),
    }).toEqual({
      ...whole,
      token_logprobs: whole.token_logprobs.map((l: number) => expect.closeTo(l, 4)),
    });
    const topped = await post('/v1/completions', { prompt: 'hey', max_tokens: 1, logprobs: 2 });
    const [top] = topped.json().choices[0].logprobs.top_logprobs;
    expect(Object.keys(top)).toHaveLength(2);
    expect(generated().at(-1)).toMatchObject({ topLogprobsNum: 2 });
    const off = await post('/v1/completions', { prompt: 'hey', max_tokens: 1, logprobs: false });
    expect(off.json().choices[0].logprobs).toBeNull();
    expect(generated().at(-1)).not.toHaveProperty('returnLogprob');
  });

  it('answers n choices (usage: the prompt once, every completion token), whole and streamed', async () => {
    const res = await post('/v1/completions', {
      prompt: 'hey',
      max_tokens: 2,
      n: 3,
      seed: 4,
    });
    const body = res.json();
    expect(body.choices.map((c: { index: number }) => c.index)).toEqual([0, 1, 2]);
    expect(body.usage).toEqual({ prompt_tokens: 4, completion_tokens: 6, total_tokens: 10 });
    expect(generated().map((input) => input.samplingParams?.seed)).toEqual([4, 5, 6]);
    const streamed = await post('/v1/completions', {
      prompt: 'hey',
      max_tokens: 2,
      n: 2,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = events(streamed.payload);
    const byIndex = [0, 1].map((i) =>
      chunks
        .filter((c) => c.choices[0]?.index === i)
        .map((c) => c.choices[0].text)
        .join(''),
    );
    const greedy = await post('/v1/completions', {
      prompt: 'hey',
      max_tokens: 2,
      temperature: 0,
    });
    expect(byIndex).toEqual([greedy.json().choices[0].text, greedy.json().choices[0].text]);
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { completion_tokens: 4 } });
  });

  it('answers a list of prompts, n choices each, prompt by prompt, usage counting each prompt once', async () => {
    const res = await post('/v1/completions', {
      prompt: ['ab', 'cde'],
      max_tokens: 1,
      n: 2,
    });
    const body = res.json();
    expect(body.choices.map((c: { index: number }) => c.index)).toEqual([0, 1, 2, 3]);
    expect(body.usage).toEqual({ prompt_tokens: 7, completion_tokens: 4, total_tokens: 11 });
    expect(generated().map((input) => input.text)).toEqual(['ab', 'ab', 'cde', 'cde']);
    expect(generated().map((input) => input.rid)).toEqual([
      `${body.id}-p0-0`,
      `${body.id}-p0-1`,
      `${body.id}-p1-0`,
      `${body.id}-p1-1`,
    ]);
  });

  it('takes the penalties and logit_bias it does not implement at their neutral values', async () => {
    const res = await post('/v1/completions', {
      prompt: 'a',
      frequency_penalty: 0,
      presence_penalty: 0,
      logit_bias: {},
      min_p: null,
    });
    expect(res.statusCode).toBe(200);
  });

  it('echoes the prompt before the completion, with its tokens first in the logprobs', async () => {
    const greedy = { prompt: 'ab', temperature: 0 };
    const plain = await post('/v1/completions', { ...greedy, max_tokens: 2, echo: true });
    const bare = await post('/v1/completions', { ...greedy, max_tokens: 2 });
    expect(plain.json().choices[0].text).toBe(`ab${bare.json().choices[0].text}`);
    const scored = await post('/v1/completions', {
      ...greedy,
      max_tokens: 1,
      echo: true,
      logprobs: 0,
    });
    const { text, logprobs } = scored.json().choices[0];
    // The prompt's tokens are BOS, 'a', 'b': BOS has no logprob.
    expect(logprobs.tokens.slice(0, 3)).toEqual(['<s>', 'a', 'b']);
    expect(logprobs.tokens).toHaveLength(4);
    expect(logprobs.token_logprobs[0]).toBeNull();
    expect(logprobs.token_logprobs.slice(1)).toEqual([
      expect.any(Number),
      expect.any(Number),
      expect.any(Number),
    ]);
    expect(text.startsWith('ab')).toBe(true);
    expect(generated().at(-1)).toMatchObject({ logprobStartLen: 0, returnLogprob: true });
  });

  it('takes token ids (or a list of one prompt) and defaults to 16 tokens', async () => {
    const res = await post('/v1/completions', {
      prompt: [[5, 6]],
      temperature: 0,
      stop: 'x',
    });
    expect(res.json().model).toBe('tiny');
    expect(res.json().usage.completion_tokens).toBeLessThanOrEqual(16);
    expect(generated()[0]).toMatchObject({
      inputIds: [5, 6],
      samplingParams: { maxNewTokens: 16, temperature: 0, stop: 'x' },
    });
    expect((await post('/v1/completions', { prompt: ['one'] })).statusCode).toBe(200);
  });

  it('streams text deltas, then the usage when asked, then [DONE]', async () => {
    const res = await post('/v1/completions', {
      prompt: 'hey',
      max_tokens: 3,
      ignore_eos: true,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = events(res.payload);
    // A chunk carries the text made since the last one (the first, none yet).
    expect(chunks[0].choices[0].text).toBe('');
    const usage = chunks.at(-1);
    const deltas = chunks.slice(0, -1).map((c) => c.choices[0]);
    expect(deltas.map((d) => d.finish_reason)).toEqual([
      ...deltas.slice(1).map(() => null),
      'length',
    ]);
    expect(chunks[0]).toMatchObject({ object: 'text_completion', model: 'tiny', usage: null });
    expect(usage).toMatchObject({ choices: [], usage: { total_tokens: 7 } });
    expect(generated()[0]?.samplingParams).toMatchObject({ maxNewTokens: 3, ignoreEos: true });
    const plain = events((await post('/v1/completions', { prompt: 'a', stream: true })).payload);
    expect(plain.every((c) => !('usage' in c))).toBe(true);
  });

  it.each([
    [{ prompt: 'a', n: 0 }, 'n: Too small'],
    [{ prompt: [] }, 'prompt: must be a string, token ids, or a list of either'],
    [{}, 'prompt: must be a string, token ids, or a list of either'],
    [{ prompt: 'a', echo: true, stream: true }, 'echo: not with stream'],
    [{ prompt: 'a', best_of: 3 }, 'best_of: only best_of 1 is supported'],
    [{ prompt: 'a', logprobs: 25 }, 'logprobs: Too big'],
    [{ prompt: 'a', frequency_penalty: 0.5 }, 'frequency_penalty is not supported'],
    [{ prompt: 'a', logit_bias: { '5': 101 } }, 'logit_bias.5: Too big'],
    [{ prompt: 'a', temperature: 3 }, 'temperature:'],
    [{ prompt: 'a', stop: [1] }, 'stop[0]: Invalid input: expected string'],
    [{ prompt: 'a', stop: 1 }, 'stop: must be a string or a list of strings'],
  ])('answers 400 in OpenAI error shape for %j', async (body, message) => {
    const res = await post('/v1/completions', body);
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ type: 'invalid_request_error', code: 400 });
    expect(res.json().error.message).toContain(message);
  });

  it("answers the engine's refusal in OpenAI error shape, streaming or not", async () => {
    for (const stream of [false, true]) {
      const res = await post('/v1/completions', { prompt: [[300]], stream });
      expect(res.statusCode).toBe(400);
      expect(res.json().error.message).toBe('input_ids holds 300, outside the vocabulary [0, 258)');
    }
  });
});
