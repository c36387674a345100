import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GenerateInput } from '../engine-api.js';
import { createServer } from './create-server.js';
import { FakeEngine, sseData } from './server.test-helpers.js';

// Still on FakeEngine: builtin:tiny has no chat template (the real engine refuses chat there).
// /v1/completions runs against the real engine in openai-completions.test.ts, the info and
// metrics routes in server-info.test.ts.
let engine: FakeEngine;
let app: FastifyInstance;

beforeEach(() => {
  engine = new FakeEngine();
  app = createServer(engine, { modelName: 'tiny' });
});
afterEach(() => app.close());

const post = (url: string, payload: unknown) =>
  app.inject({ method: 'POST', url, payload: payload as object });

function events(payload: string) {
  const data = sseData(payload);
  expect(data.at(-1)).toBe('[DONE]');
  return data.slice(0, -1).map((d) => JSON.parse(d));
}

describe('POST /v1/chat/completions', () => {
  const messages = [
    { role: 'developer', content: 'be brief' },
    {
      role: 'user',
      content: [
        { type: 'text', text: 'hi' },
        { type: 'text', text: '!' },
      ],
    },
    { role: 'assistant', content: null },
  ];

  it('renders the chat template and answers chat.completion with usage', async () => {
    const res = await post('/v1/chat/completions', { messages, max_completion_tokens: 2 });
    expect(res.json()).toEqual({
      id: expect.stringMatching(/^chatcmpl-/),
      object: 'chat.completion',
      created: expect.any(Number),
      model: 'tiny',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'w0 w1', refusal: null },
          logprobs: null,
          finish_reason: 'length',
        },
      ],
      usage: { prompt_tokens: 47, completion_tokens: 2, total_tokens: 49 },
    });
    expect(engine.calls[0]?.[1]).toMatchObject({
      text: '<system>be brief<user>hi!<assistant><assistant>',
      samplingParams: { maxNewTokens: 2 },
    });
  });

  it("answers the chosen tokens' logprobs with logprobs: true, whole and streamed", async () => {
    const whole = await post('/v1/chat/completions', { messages, max_tokens: 2, logprobs: true });
    expect(whole.json().choices[0].logprobs).toEqual({
      content: [
        { token: 'w0', logprob: -0.25, bytes: [119, 48], top_logprobs: [] },
        { token: 'w1', logprob: -0.5, bytes: [119, 49], top_logprobs: [] },
      ],
      refusal: null,
    });
    const streamed = await post('/v1/chat/completions', {
      messages,
      max_tokens: 2,
      logprobs: true,
      top_logprobs: 0,
      stream: true,
    });
    expect(
      events(streamed.payload).map((c) =>
        c.choices[0].logprobs.content.map((t: { token: string }) => t.token),
      ),
    ).toEqual([['w0'], ['w1']]);
    const topped = await post('/v1/chat/completions', {
      messages,
      max_tokens: 1,
      logprobs: true,
      top_logprobs: 2,
    });
    expect(topped.json().choices[0].logprobs.content[0].top_logprobs).toEqual([
      { token: 't1', logprob: -0.5, bytes: [116, 49] },
      { token: 't2', logprob: -1, bytes: [116, 50] },
    ]);
    const bad = await post('/v1/chat/completions', { messages, top_logprobs: 3 });
    expect(bad.json().error.message).toContain('top_logprobs: needs logprobs: true');
    for (const [field, message] of [
      [{ tools: [{ type: 'function', function: { name: 'f' } }] }, 'tools are not supported'],
      [{ tool_choice: 'auto' }, 'tools are not supported'],
      [{ response_format: { type: 'json_object' } }, 'only response_format text is supported'],
    ] as const) {
      const refused = await post('/v1/chat/completions', { messages, ...field });
      expect(refused.statusCode).toBe(400);
      expect(refused.json().error.message).toContain(message);
    }
    const neutral = await post('/v1/chat/completions', {
      messages,
      max_tokens: 1,
      tools: [],
      tool_choice: 'none',
      response_format: { type: 'text' },
    });
    expect(neutral.statusCode).toBe(200);
  });

  it('answers n chat choices', async () => {
    const res = await post('/v1/chat/completions', { messages, max_tokens: 1, n: 2 });
    expect(
      res
        .json()
        .choices.map((c: { index: number; message: { content: string } }) => [
          c.index,
          c.message.content,
        ]),
    ).toEqual([
      [0, 'w0'],
      [1, 'w0'],
    ]);
  });

  it('passes chat_template_kwargs and add_generation_prompt to the template', async () => {
    await post('/v1/chat/completions', {
      messages,
      max_tokens: 1,
      chat_template_kwargs: { enable_thinking: false },
    });
    await post('/v1/chat/completions', { messages, max_tokens: 1, add_generation_prompt: false });
    const texts = engine.calls
      .filter(([name]) => name === 'generate')
      .map(([, input]) => (input as GenerateInput).text);
    expect(texts).toEqual([
      '<system>be brief<user>hi!<assistant><assistant><no_think>',
      '<system>be brief<user>hi!<assistant>',
    ]);
  });

  it('streams chat.completion.chunk deltas, the role first', async () => {
    const res = await post('/v1/chat/completions', {
      messages: [{ role: 'user', content: 'x' }],
      max_tokens: 2,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = events(res.payload);
    expect(chunks.map((c) => c.choices[0]?.delta)).toEqual([
      { role: 'assistant', content: 'w0' },
      { content: ' w1' },
      undefined,
    ]);
    expect(chunks[1]).toMatchObject({
      object: 'chat.completion.chunk',
      choices: [{ finish_reason: 'length' }],
    });
    expect(chunks[2]).toMatchObject({ choices: [], usage: { completion_tokens: 2 } });
  });

  it('answers 400 for bad messages and for a model with no chat template', async () => {
    const role = await post('/v1/chat/completions', {
      messages: [{ role: 'robot', content: 'x' }],
    });
    expect(role.json().error.message).toContain('messages[0].role: must be one of');
    const image = await post('/v1/chat/completions', {
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }],
    });
    expect(image.json().error.message).toContain('only text content parts are supported');
    expect((await post('/v1/chat/completions', { messages: [] })).statusCode).toBe(400);
    engine.hasChatTemplate = false;
    const none = await post('/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }] });
    expect(none.statusCode).toBe(400);
    expect(none.json().error.message).toBe('the model has no chat template');
  });
});
