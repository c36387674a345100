import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../engine/engine.js';
import { DEVICE } from '../model/runner.test-helpers.js';
import { chatModelDir } from './chat-model.test-helpers.js';
import { createServer } from './create-server.js';
import { sseData } from './server.test-helpers.js';

// The real engine on the llama fixture with a byte-level tokenizer and a chat template
// (chatModelDir): each chat reply is checked against /generate on the text the template renders.
let engine: Engine;
let app: FastifyInstance;

beforeAll(async () => {
  engine = await Engine.launch({
    model: chatModelDir(),
    device: DEVICE,
    dtype: 'float32',
    pageSize: 4,
    numPages: 256,
    maxContext: 256,
  });
  app = createServer(engine, { modelName: 'tiny' });
}, 60_000);
afterAll(async () => {
  await app.close();
  await engine.shutdown();
});

const post = (url: string, payload: unknown) =>
  app.inject({ method: 'POST', url, payload: payload as object });

function events(payload: string) {
  const data = sseData(payload);
  expect(data.at(-1)).toBe('[DONE]');
  return data.slice(0, -1).map((d) => JSON.parse(d));
}

/** /generate's greedy reply to `text`, with its output logprobs (token text beside each). */
async function generated(text: string, tokens: number, top = 0) {
  const res = await post('/generate', {
    text,
    sampling_params: { temperature: 0, max_new_tokens: tokens },
    return_logprob: true,
    return_text_in_logprobs: true,
    ...(top > 0 ? { top_logprobs_num: top } : {}),
  });
  expect(res.statusCode).toBe(200);
  return res.json();
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
  // developer is a system turn, the content parts join, the assistant turn is empty.
  const rendered = '<system>be brief<user>hi!<assistant><assistant>';
  const greedy = { temperature: 0 };

  it('renders the chat template and answers chat.completion with usage, as /generate on the rendered text', async () => {
    const res = await post('/v1/chat/completions', {
      messages,
      ...greedy,
      max_completion_tokens: 4,
    });
    const reference = await generated(rendered, 4);
    expect(res.json()).toEqual({
      id: expect.stringMatching(/^chatcmpl-/),
      object: 'chat.completion',
      created: expect.any(Number),
      model: 'tiny',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: reference.text, refusal: null },
          logprobs: null,
          finish_reason: 'length',
        },
      ],
      usage: {
        prompt_tokens: rendered.length,
        completion_tokens: 4,
        total_tokens: rendered.length + 4,
      },
    });
  });

  it("answers the chosen tokens' logprobs with logprobs: true, whole and streamed, and the most likely ones", async () => {
    const whole = await post('/v1/chat/completions', {
      messages,
      ...greedy,
      max_tokens: 3,
      logprobs: true,
    });
    const reference = await generated(rendered, 3);
    const chosen = reference.meta_info.output_token_logprobs as [number, number, string][];
    expect(whole.json().choices[0].logprobs).toEqual({
      content: chosen.map(([logprob, , token]) => ({
        token,
        logprob,
        bytes: [...Buffer.from(token)],
        top_logprobs: [],
      })),
      refusal: null,
    });
    const streamed = await post('/v1/chat/completions', {
      messages,
      ...greedy,
      max_tokens: 3,
      logprobs: true,
      top_logprobs: 0,
      stream: true,
    });
    expect(
      events(streamed.payload).flatMap((c) =>
        c.choices[0].logprobs.content.map((t: { token: string }) => t.token),
      ),
    ).toEqual(chosen.map(([, , token]) => token));
    const topped = await post('/v1/chat/completions', {
      messages,
      ...greedy,
      max_tokens: 1,
      logprobs: true,
      top_logprobs: 2,
    });
    const top = (await generated(rendered, 1, 2)).meta_info.output_top_logprobs[0] as [
      number,
      number,
      string,
    ][];
    expect(topped.json().choices[0].logprobs.content[0].top_logprobs).toEqual(
      top.map(([logprob, , token]) => ({ token, logprob, bytes: [...Buffer.from(token)] })),
    );
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
    const res = await post('/v1/chat/completions', { messages, ...greedy, max_tokens: 2, n: 2 });
    const { text } = await generated(rendered, 2);
    expect(
      res
        .json()
        .choices.map((c: { index: number; message: { content: string } }) => [
          c.index,
          c.message.content,
        ]),
    ).toEqual([
      [0, text],
      [1, text],
    ]);
  });

  it('passes chat_template_kwargs and add_generation_prompt to the template', async () => {
    const usage = async (extra: object) =>
      (await post('/v1/chat/completions', { messages, max_tokens: 1, ...extra })).json().usage
        .prompt_tokens;
    expect(await usage({ chat_template_kwargs: { enable_thinking: false } })).toBe(
      `${rendered}<no_think>`.length,
    );
    expect(await usage({ add_generation_prompt: false })).toBe(
      '<system>be brief<user>hi!<assistant>'.length,
    );
  });

  it('streams chat.completion.chunk deltas, the role first', async () => {
    const res = await post('/v1/chat/completions', {
      messages: [{ role: 'user', content: 'x' }],
      ...greedy,
      max_tokens: 2,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = events(res.payload);
    const { text } = await generated('<user>x<assistant>', 2);
    expect(chunks[0].choices[0].delta.role).toBe('assistant');
    const deltas = chunks.flatMap((c) => (c.choices[0]?.delta ? [c.choices[0].delta] : []));
    expect(deltas.map((d) => d.content ?? '').join('')).toBe(text);
    expect(chunks.at(-2)).toMatchObject({
      object: 'chat.completion.chunk',
      choices: [{ finish_reason: 'length' }],
    });
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { completion_tokens: 2 } });
  });

  it('answers 400 for bad messages', async () => {
    const role = await post('/v1/chat/completions', {
      messages: [{ role: 'robot', content: 'x' }],
    });
    expect(role.json().error.message).toContain('messages[0].role: must be one of');
    const image = await post('/v1/chat/completions', {
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }],
    });
    expect(image.json().error.message).toContain('only text content parts are supported');
    expect((await post('/v1/chat/completions', { messages: [] })).statusCode).toBe(400);
  });
});

describe('POST /v1/chat/completions on a model with no chat template', () => {
  it('answers 400 saying so (builtin:tiny)', async () => {
    const tiny = await Engine.launch({ model: 'builtin:tiny', device: DEVICE });
    const server = createServer(tiny, { modelName: 'tiny' });
    try {
      const none = await server.inject({
        method: 'POST',
        url: '/v1/chat/completions',
        payload: { messages: [{ role: 'user', content: 'x' }] },
      });
      expect(none.statusCode).toBe(400);
      expect(none.json().error.message).toBe('this model has no chat template');
    } finally {
      await server.close();
      await tiny.shutdown();
    }
  });
});
