import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { generateRequestSchema } from './generate-schema.js';
import { chatCompletionRequestSchema, completionRequestSchema } from './openai-schema.js';
import {
  MAX_SAMPLES,
  onlyOff,
  openAISamplingShape,
  samplingParamsSchema,
  servedSamplingShape,
} from './sampling-schema.js';
import type { SamplingParams } from './wire.js';
import type { OpenAISamplingRequest } from './wire-openai.js';

describe('the wire sampling schemas', () => {
  it('parse SGLang sampling_params: nulls kept as omitted, unknown keys dropped', () => {
    const body: SamplingParams = { max_new_tokens: 4, top_k: null, stop: ['x'], n: 2 };
    expect(samplingParamsSchema.parse({ ...body, unknown: 1 })).toEqual(body);
    expect(samplingParamsSchema.safeParse({ n: MAX_SAMPLES + 1 }).success).toBe(false);
    expect(samplingParamsSchema.safeParse({ max_new_tokens: 1.5 }).success).toBe(false);
    // Ranges are the engine's to check: the schema checks the shape only.
    expect(samplingParamsSchema.safeParse({ top_p: 0, temperature: -1 }).success).toBe(true);
    expect(Object.keys(servedSamplingShape)).toContain('sampling_seed');
  });

  it('take an unimplemented control at its neutral value only (for a batch, a list of them)', () => {
    const schema = z.object({ min_p: onlyOff(0, 'min_p is not supported') });
    for (const min_p of [undefined, null, 0, [0, null]])
      expect(schema.safeParse({ min_p }).success).toBe(true);
    const refused = schema.safeParse({ min_p: 0.1 });
    expect(refused.success).toBe(false);
    expect(refused.error?.issues[0]?.message).toBe('min_p is not supported');
    expect(samplingParamsSchema.safeParse({ json_schema: '{}' }).success).toBe(false);
  });

  it("parse the OpenAI routes' sampling fields, with OpenAI's ranges", () => {
    const openAI = z.object(openAISamplingShape);
    const body: OpenAISamplingRequest = {
      temperature: 2,
      top_k: 5,
      ignore_eos: true,
      truncate_prompt_tokens: 8,
    };
    expect(openAI.parse(body)).toEqual(body);
    expect(openAI.safeParse({ temperature: 2.5 }).success).toBe(false);
    expect(openAI.safeParse({ logit_bias: { '1': 101 } }).success).toBe(false);
    expect(openAI.safeParse({ presence_penalty: 0.5 }).success).toBe(false);
  });

  it('parse whole bodies of /generate and the OpenAI routes', () => {
    expect(generateRequestSchema.parse({ text: ['a'], sampling_params: [{ n: 2 }] })).toEqual({
      text: ['a'],
      sampling_params: [{ n: 2 }],
    });
    expect(generateRequestSchema.safeParse({ lora_path: 'x' }).success).toBe(false);
    expect(completionRequestSchema.parse({ prompt: [1, 2], logprobs: false })).toEqual({
      prompt: [1, 2],
      logprobs: false,
    });
    expect(completionRequestSchema.safeParse({ prompt: 'a', best_of: 2 }).success).toBe(false);
    const chat = { messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }] };
    expect(chatCompletionRequestSchema.parse(chat)).toEqual(chat);
    expect(chatCompletionRequestSchema.safeParse({ ...chat, tools: [{}] }).success).toBe(false);
  });
});
