import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Engine } from '../engine/engine.js';
import type { GenerateInput } from '../engine-api.js';
import { createServer } from './create-server.js';
import { sseData } from './server.test-helpers.js';
import { dyingAfterFirstUpdate, launchTiny, recordCalls } from './tiny-engine.test-helpers.js';

// The real engine on builtin:tiny (a byte tokenizer: BOS 256, then one id per byte), one
// for the file; the calls the routes make on it are recorded test by test.
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

let calls: Array<[string, unknown]>;
beforeEach(() => {
  calls = recordCalls(engine, ['generate', 'generateStream', 'abortRequest']);
});
afterEach(() => vi.restoreAllMocks());

/** The inputs the routes handed to `generate` or `generateStream`, in order. */
const generated = () =>
  calls.filter(([name]) => name.startsWith('generate')).map(([, input]) => input as GenerateInput);

/** Requests that ended with finish reason abort, so far. */
const aborted = async () => (await engine.metrics()).abortedRequestsTotal;

const post = (payload: unknown) =>
  app.inject({ method: 'POST', url: '/generate', payload: payload as object });

describe('POST /generate', () => {
  it('answers SGLang shape for a text prompt and passes sampling params through', async () => {
    const res = await post({
      text: 'hello',
      rid: 'r1',
      sampling_params: {
        max_new_tokens: 2,
        temperature: 0,
        top_p: 0.9,
        top_k: 5,
        stop: ['\n'],
        stop_token_ids: [2],
        ignore_eos: true,
        skip_special_tokens: false,
        no_stop_trim: true,
        sampling_seed: 7,
        unknown_knob: 1,
        min_p: null,
      },
    });
    expect(res.statusCode).toBe(200);
    const { output_ids } = res.json();
    expect(output_ids).toHaveLength(2);
    expect(res.json()).toEqual({
      text: engine.detokenize(output_ids),
      output_ids,
      meta_info: {
        id: 'r1',
        prompt_tokens: 6,
        cached_tokens: 0,
        completion_tokens: 2,
        finish_reason: { type: 'length' },
        e2e_latency: expect.any(Number),
        weight_version: 'default',
      },
    });
    expect(calls[0]).toEqual([
      'generate',
      {
        text: 'hello',
        rid: 'r1',
        samplingParams: {
          maxNewTokens: 2,
          temperature: 0,
          topP: 0.9,
          topK: 5,
          stop: ['\n'],
          stopTokenIds: [2],
          ignoreEos: true,
          skipSpecialTokens: false,
          noStopTrim: true,
          seed: 7,
        },
      },
    ]);
  });

  it('answers n samples of a prompt as a list, prompt by prompt, seeds seed + j where given', async () => {
    const one = await post({
      text: 'a',
      rid: 'r',
      sampling_params: { max_new_tokens: 1, n: 3, sampling_seed: 7 },
    });
    expect(one.statusCode).toBe(200);
    expect(one.json().map((r: { meta_info: { id: string } }) => r.meta_info.id)).toEqual([
      'r-0',
      'r-1',
      'r-2',
    ]);
    expect(generated().map((c) => c.samplingParams?.seed)).toEqual([7, 8, 9]);
    calls.length = 0;
    const batch = await post({
      text: ['a', 'bb'],
      sampling_params: [{ max_new_tokens: 1, n: 2 }, { max_new_tokens: 2 }],
    });
    expect(batch.json().map((r: { output_ids: number[] }) => r.output_ids.length)).toEqual([
      1, 1, 2,
    ]);
    const unseeded = generated();
    expect(unseeded.map((c) => c.text)).toEqual(['a', 'a', 'bb']);
    expect(unseeded.every((c) => c.samplingParams?.seed === undefined)).toBe(true);
  });

  it('passes data_parallel_rank on, and takes null for the features it does not serve', async () => {
    const res = await post({
      text: 'a',
      data_parallel_rank: 0,
      sampling_params: { max_new_tokens: 1 },
      lora_path: null,
      image_data: null,
      return_hidden_states: false,
    });
    expect(res.statusCode).toBe(200);
    expect(generated()[0]).toMatchObject({ dataParallelRank: 0 });
  });

  it('takes the sampling controls it does not implement at their neutral values', async () => {
    const res = await post({
      text: 'a',
      sampling_params: {
        max_new_tokens: 1,
        n: 1,
        min_new_tokens: 0,
        min_p: 0,
        repetition_penalty: 1,
        frequency_penalty: 0,
        presence_penalty: null,
        json_schema: null,
      },
    });
    expect(res.statusCode).toBe(200);
  });

  it('takes input_ids, drops null fields and makes up a rid', async () => {
    const res = await post({
      input_ids: [1, 2, 3, 4],
      sampling_params: null,
      rid: null,
      stream: null,
    });
    expect(res.json().meta_info.prompt_tokens).toBe(4);
    const input = generated()[0] as {
      rid: string;
      inputIds: number[];
      samplingParams: object;
    };
    expect(input.inputIds).toEqual([1, 2, 3, 4]);
    expect(input.samplingParams).toEqual({});
    expect(input.rid).toMatch(/^[0-9a-f]{32}$/);
  });

  it("answers each output token's logprob as SGLang's [logprob, id, null] when asked, per prompt", async () => {
    const logprob = [expect.any(Number), expect.any(Number), null];
    const one = await post({
      text: 'a',
      sampling_params: { max_new_tokens: 2 },
      return_logprob: true,
      logprob_start_len: -1,
      top_logprobs_num: 0,
      return_text_in_logprobs: false,
      token_ids_logprob: null,
    });
    expect(one.statusCode).toBe(200);
    const lps = one.json().meta_info.output_token_logprobs;
    expect(lps).toEqual([logprob, logprob]);
    expect(lps.map((l: unknown[]) => l[1])).toEqual(one.json().output_ids);
    expect(lps.every((l: number[]) => (l[0] as number) <= 0)).toBe(true);
    expect(generated()[0]).toMatchObject({ returnLogprob: true });
    expect(generated()[0]).not.toHaveProperty('logprobStartLen');
    // Prompt 'abc' is [256, 97, 98, 99]: from position 1, the ids of 'a', 'b', 'c'.
    const scored = await post({
      text: 'abc',
      sampling_params: { max_new_tokens: 1 },
      return_logprob: true,
      logprob_start_len: 1,
    });
    const input = scored.json().meta_info.input_token_logprobs;
    expect(input.map((l: unknown[]) => l[1])).toEqual([97, 98, 99]);
    expect(generated().at(-1)).toMatchObject({ logprobStartLen: 1 });
    const topped = await post({
      text: 'a',
      sampling_params: { max_new_tokens: 1 },
      return_logprob: true,
      top_logprobs_num: 2,
    });
    const [top] = topped.json().meta_info.output_top_logprobs;
    expect(top).toEqual([logprob, logprob]);
    expect(top[0][0]).toBeGreaterThanOrEqual(top[1][0]);
    const judged = await post({
      text: 'a',
      sampling_params: { max_new_tokens: 2 },
      return_logprob: true,
      token_ids_logprob: [7, 9],
    });
    const chosen = judged.json().meta_info.output_token_ids_logprobs;
    expect(chosen).toHaveLength(2);
    for (const step of chosen) expect(step.map((l: unknown[]) => l[1])).toEqual([7, 9]);
    const batch = await post({
      text: ['a', 'b'],
      sampling_params: { max_new_tokens: 1 },
      return_logprob: [false, true],
    });
    expect(batch.json()[0].meta_info.output_token_logprobs).toBeUndefined();
    expect(batch.json()[1].meta_info.output_token_logprobs).toEqual([logprob]);
    const plain = await post({ text: 'a', sampling_params: { max_new_tokens: 1 } });
    expect(plain.json().meta_info).not.toHaveProperty('output_token_logprobs');
    const withText = await post({
      text: 'a',
      sampling_params: { max_new_tokens: 2 },
      return_logprob: true,
      return_text_in_logprobs: true,
    });
    const texts = withText.json().meta_info.output_token_logprobs;
    expect(texts.map((l: unknown[]) => l[2])).toEqual(
      withText.json().output_ids.map((id: number) => engine.detokenize([id])),
    );
  });

  it('runs a batch of texts or of input_ids and answers a list in order', async () => {
    const texts = await post({
      text: ['a', 'bb'],
      rid: ['x', 'y'],
      sampling_params: [{ max_new_tokens: 1 }, { max_new_tokens: 2 }],
    });
    expect(texts.statusCode).toBe(200);
    expect(texts.json().map((r: { output_ids: number[] }) => r.output_ids.length)).toEqual([1, 2]);
    expect(texts.json()[1].meta_info).toMatchObject({ id: 'y', prompt_tokens: 3 });
    const ids = await post({ input_ids: [[1], [1, 2, 3]], sampling_params: { max_new_tokens: 1 } });
    expect(
      ids.json().map((r: { meta_info: { prompt_tokens: number } }) => r.meta_info.prompt_tokens),
    ).toEqual([1, 3]);
  });

  it("takes vLLM's truncate_prompt_tokens: the prompt's last tokens only, counted so", async () => {
    const ids = [1, 2, 3, 4, 5, 6];
    const greedy = { max_new_tokens: 3, ignore_eos: true };
    const cut = await post({
      input_ids: ids,
      sampling_params: { ...greedy, truncate_prompt_tokens: 2 },
    });
    expect(cut.statusCode).toBe(200);
    expect(generated()[0]?.samplingParams).toMatchObject({ truncatePromptTokens: 2 });
    const tail = await post({ input_ids: [5, 6], sampling_params: greedy });
    expect(cut.json().meta_info.prompt_tokens).toBe(2);
    expect(cut.json().output_ids).toEqual(tail.json().output_ids);
    // -1: as much as fits the context beside max_new_tokens (here more than the tiny KV pool,
    // which the refusal shows: the prompt it names is cut to fit the context).
    const context = engine.modelInfo().maxContext;
    const long = Array.from({ length: context + 5 }, (_, i) => 1 + (i % 200));
    const whole = await post({ input_ids: long, sampling_params: greedy });
    expect(whole.json().message).toContain(`exceeds the context length ${context}`);
    const fitted = await post({
      input_ids: long,
      sampling_params: { ...greedy, truncate_prompt_tokens: -1 },
    });
    expect(fitted.json().message).toContain(`prompt (${context - 3} tokens) + max_new_tokens (3)`);
    // A text is cut once tokenized (BOS first, so the cut drops it).
    const cutText = await post({
      text: 'abcdef',
      sampling_params: { ...greedy, truncate_prompt_tokens: 4 },
    });
    expect(cutText.json().meta_info.prompt_tokens).toBe(4);
    const bad = await post({ input_ids: ids, sampling_params: { truncate_prompt_tokens: -2 } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toBe('truncate_prompt_tokens must be an integer >= -1');
  });

  it.each([
    [{}, 'body: give exactly one of text and input_ids'],
    [{ text: 'a', input_ids: [1] }, 'body: give exactly one of text and input_ids'],
    [{ text: 5 }, 'text: must be a string or a list of strings'],
    [{ input_ids: [1, -2] }, 'input_ids[1]: Too small'],
    [{ input_ids: 'abc' }, 'input_ids: must be a list of token ids, or a list of such lists'],
    [{ input_ids: [] }, 'input_ids'],
    [{ text: 'a', sampling_params: { temperature: 'hot' } }, 'sampling_params.temperature:'],
    [{ text: 'a', sampling_params: { max_new_tokens: 1.5 } }, 'sampling_params.max_new_tokens:'],
    [
      { text: 'a', sampling_params: { stop_token_ids: ['x'] } },
      'sampling_params.stop_token_ids[0]:',
    ],
    [{ text: 'a', stream: 'yes' }, 'stream:'],
    [{ text: 'a', rid: ['x'] }, 'rid: must be a string for one prompt'],
    [{ text: 'a', sampling_params: [{}] }, 'sampling_params: must be an object for one prompt'],
    [{ text: ['a', 'b'], rid: ['x'] }, 'rid: must be a list of 2 strings, one per prompt'],
    [{ text: ['a', 'b'], rid: 'x' }, 'rid: must be a list of 2 strings, one per prompt'],
    [
      { text: ['a', 'b'], sampling_params: [{}] },
      'sampling_params: must be one object, or a list of 2',
    ],
    [[1, 2], 'body: Invalid input: expected object'],
    [{ text: 'a', return_logprob: 'yes' }, 'return_logprob: must be a boolean'],
    [{ text: 'a', return_logprob: true, logprob_start_len: 0.5 }, 'logprob_start_len:'],
    [{ text: 'a', return_logprob: true, top_logprobs_num: 'x' }, 'top_logprobs_num:'],
    [
      { text: ['a', 'b'], return_logprob: [true] },
      'return_logprob: must be one boolean, or a list of 2',
    ],
    [
      { text: ['a', 'b'], return_logprob: true, logprob_start_len: [0] },
      'logprob_start_len: must be one integer, or a list of 2',
    ],
    [{ text: 'a', token_ids_logprob: 'x' }, 'token_ids_logprob: must be a list of token ids'],
    [
      { text: ['a', 'b'], token_ids_logprob: [[1]] },
      'token_ids_logprob: must be one list of ids, or a list of 2',
    ],
    [{ text: 'a', sampling_params: { n: 0 } }, 'sampling_params.n: Too small'],
    [{ text: 'a', sampling_params: { n: 1.5 } }, 'sampling_params.n:'],
    [
      { text: 'a', sampling_params: { repetition_penalty: 1.1 } },
      'sampling_params.repetition_penalty: repetition_penalty is not supported',
    ],
    [{ text: 'a', sampling_params: { min_new_tokens: 0.5 } }, 'sampling_params.min_new_tokens:'],
    [{ text: 'a', sampling_params: { logit_bias: { '5': 'x' } } }, 'sampling_params.logit_bias'],
    [{ text: 'a', sampling_params: { json_schema: '{}' } }, 'json_schema (constrained decoding)'],
    [{ text: 'a', lora_path: 'adapter' }, 'lora_path: LoRA adapters are not supported'],
    [{ text: 'a', image_data: ['x.png'] }, 'image_data: image input is not supported'],
    [{ text: 'a', return_hidden_states: true }, 'hidden states are not returned'],
    [{ text: 'a', data_parallel_rank: -1 }, 'data_parallel_rank:'],
    [
      { text: ['a', 'b'], return_logprob: true, return_text_in_logprobs: [true] },
      'return_text_in_logprobs: must be one boolean, or a list of 2',
    ],
  ])('answers 400 naming the field for %j', async (body, message) => {
    const res = await post(body);
    expect(res.statusCode).toBe(400);
    expect(res.json().success).toBe(false);
    expect(res.json().message).toContain(message);
    expect(calls).toEqual([]);
  });

  // The body's shape is the schema's to check; ranges are the engine's (samplingParams(), the
  // one range check), named as the wire names them.
  it.each([
    [{ text: 'a', sampling_params: { top_p: 0 } }, 'top_p must be in (0, 1]'],
    [{ text: 'a', sampling_params: { temperature: -1 } }, 'temperature must be >= 0'],
    [
      { text: 'a', sampling_params: { min_new_tokens: -1 } },
      'min_new_tokens must be an integer in [0, max_new_tokens (128)]',
    ],
    [{ text: 'a', sampling_params: { stop_token_ids: [-1] } }, 'stop_token_ids must be token ids'],
    [
      { text: 'a', return_logprob: true, logprob_start_len: -2 },
      'logprob_start_len must be an integer >= -1, got -2',
    ],
    [
      { text: 'a', return_logprob: true, top_logprobs_num: 65 },
      'top_logprobs_num must be an integer in [0, 64]',
    ],
  ])('answers 400 with the range check of %j', async (body, message) => {
    const res = await post(body);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ success: false, message: expect.stringContaining(message) });
  });

  it("answers the engine's refusal as a 400 (or the status it names) and aborts siblings", async () => {
    const refused = await post({ input_ids: [300] });
    expect(refused.statusCode).toBe(400);
    expect(refused.json()).toEqual({
      success: false,
      message: 'input_ids holds 300, outside the vocabulary [0, 258)',
    });
    // A prompt the engine refuses ends its sibling, a long generation (abort).
    const before = await aborted();
    const sibling = await post({
      input_ids: [[97], [300]],
      rid: ['a', 'b'],
      sampling_params: { max_new_tokens: 500, ignore_eos: true },
    });
    expect(sibling.statusCode).toBe(400);
    expect(await aborted()).toBe(before + 1);
    expect(calls.filter(([k]) => k === 'abortRequest')).toEqual([]);
    // A prompt longer than the context (2048 tokens) is a 413.
    const tooLong = await post({ text: ['fine', 'a'.repeat(3000)], rid: ['a', 'b'] });
    expect(tooLong.statusCode).toBe(413);
    expect(tooLong.json().message).toBe(
      'text[1]: 3000 characters cannot fit the context of 2048 tokens (a token of this tokenizer stands for at most 1 characters, so at most 2048 fit)',
    );
  });

  it('answers 400 for malformed JSON and for an empty body, 404 JSON for unknown routes', async () => {
    const bad = await app.inject({
      method: 'POST',
      url: '/generate',
      headers: { 'content-type': 'application/json' },
      payload: '{"text": ',
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toMatch(/^body: invalid JSON/);
    const empty = await app.inject({ method: 'POST', url: '/generate' });
    expect(empty.statusCode).toBe(400);
    const missing = await app.inject({ method: 'GET', url: '/nope' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toEqual({ success: false, message: 'no route GET /nope' });
  });
});

describe('POST /generate with stream: true', () => {
  it('sends cumulative updates as SSE, then [DONE]', async () => {
    const res = await post({
      text: 'hi',
      stream: true,
      rid: 's',
      sampling_params: { max_new_tokens: 3, ignore_eos: true },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    const data = sseData(res.payload);
    expect(data.at(-1)).toBe('[DONE]');
    const events = data.slice(0, -1).map((d) => JSON.parse(d));
    // The first update comes as the request starts, before any token.
    expect(events.map((e) => e.output_ids.length)).toEqual([0, 1, 2, 3]);
    expect(events.map((e) => e.meta_info.finish_reason)).toEqual([
      null,
      null,
      null,
      { type: 'length' },
    ]);
    expect(events[3].text).toBe(engine.detokenize(events[3].output_ids));
  });

  it('streams a batch with the index of each prompt', async () => {
    const res = await post({
      text: ['a', 'b'],
      stream: true,
      sampling_params: { max_new_tokens: 2, ignore_eos: true },
    });
    const events = sseData(res.payload)
      .slice(0, -1)
      .map((d) => JSON.parse(d));
    expect(events).toHaveLength(6);
    for (const index of [0, 1]) {
      const mine = events.filter((e) => e.index === index);
      expect(mine.map((e) => e.output_ids.length)).toEqual([0, 1, 2]);
    }
  });

  it('answers a refusal before the first update as a plain 400', async () => {
    const res = await post({ input_ids: [300], stream: true });
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toBe('input_ids holds 300, outside the vocabulary [0, 258)');
    const batch = await post({ input_ids: [[97], [300]], stream: true });
    expect(batch.statusCode).toBe(400);
  });

  it('sends a failure after the first update as an error event, then [DONE]', async () => {
    const dying = createServer(dyingAfterFirstUpdate(engine));
    const res = await dying.inject({
      method: 'POST',
      url: '/generate',
      payload: { text: 'x', stream: true },
    });
    await dying.close();
    expect(res.statusCode).toBe(200);
    const data = sseData(res.payload);
    expect(JSON.parse(data[1] as string)).toEqual({
      error: { message: 'rank 0 died', type: 'server_error' },
    });
    expect(data.slice(2)).toEqual(['[DONE]']);
  });
});
