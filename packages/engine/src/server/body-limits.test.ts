import { describe, expect, it } from 'vitest';
import type { ModelInfo } from '../engine-api.js';
import { resolveSwitches } from '../protocol/switches.js';
import { declaredTooLarge, promptRouteRules } from './body-limits.js';
import { MAX_GENERATIONS } from './sampling.js';

const MiB = 1024 * 1024;
const info = (maxTextPerToken: number | undefined): ModelInfo => ({
  modelPath: 'm',
  architecture: 'LlamaForCausalLM',
  vocabSize: 512,
  maxContext: 512,
  ...(maxTextPerToken === undefined ? {} : { maxTextPerToken }),
  dtype: 'f32',
  device: 'cpu',
  dpSize: 1,
  tpSize: 1,
  hasChatTemplate: false,
  serving: {
    pageSize: 16,
    maxRunning: 8,
    maxBatchTokens: 512,
    kvMemoryFraction: 0.3,
    maxTotalTokens: 128,
    switches: { ...resolveSwitches({}), cudaGraphs: false },
  },
});

describe('promptRouteRules (what a valid request of the model can need)', () => {
  const slack = MiB + 512 * 32;

  it('bounds one text by max context × the most text per token × 6 bytes, plus slack', () => {
    const rules = promptRouteRules(info(1), 64 * MiB);
    expect(rules.get('/tokenize')).toEqual({
      bodyLimit: 512 * 6 + slack,
      prompt: { fields: ['prompt', 'text'], maxContext: 512, perToken: 1 },
    });
    // Ids of a 512-token vocabulary take up to 5 bytes each ("511, ").
    expect(rules.get('/v1/chat/completions')?.bodyLimit).toBe(512 * 6 + 512 * 64 + slack);
    expect(rules.get('/v1/chat/completions')?.prompt?.fields).toEqual(['messages']);
  });

  it('bounds a batch by MAX_GENERATIONS prompts, and every limit by the cap', () => {
    const rules = promptRouteRules(info(1), 1024 * MiB);
    expect(rules.get('/generate')?.bodyLimit).toBe(MAX_GENERATIONS * (512 * 6 + 4096) + slack);
    expect(promptRouteRules(info(1), 64 * MiB).get('/v1/completions')?.bodyLimit).toBe(64 * MiB);
  });

  it('without a tokenizer bound: the cap, and no prompt check', () => {
    for (const rule of promptRouteRules(info(undefined), 64 * MiB).values())
      expect(rule).toEqual({ bodyLimit: 64 * MiB, prompt: null });
  });
});

describe('declaredTooLarge', () => {
  it('refuses a Content-Length past the limit, naming both', () => {
    expect(declaredTooLarge('101', 100, 'POST /generate')).toBe(
      'body: 101 bytes, more than the 100 bytes POST /generate takes',
    );
    expect(declaredTooLarge('100', 100, 'POST /generate')).toBeNull();
    expect(declaredTooLarge(undefined, 100, 'POST /generate')).toBeNull();
  });
});
