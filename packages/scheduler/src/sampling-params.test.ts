import { describe, expect, it } from 'vitest';
import { DEFAULT_SAMPLING, MAX_SEED, MIN_SEED, samplingParams } from './sampling-params.js';

describe('samplingParams', () => {
  it('fills defaults for fields left out or undefined, and takes top_k -1 as no limit', () => {
    expect(samplingParams({ temperature: undefined })).toEqual(DEFAULT_SAMPLING);
    expect(samplingParams({ topK: -1 }).topK).toBe(0);
    expect(samplingParams({ maxNewTokens: 0 }).maxNewTokens).toBe(0);
  });

  it('takes any 64-bit seed, exactly', () => {
    expect(samplingParams({ seed: MAX_SEED }).seed).toBe(2n ** 64n - 1n);
    expect(samplingParams({ seed: MIN_SEED }).seed).toBe(-(2n ** 63n));
    expect(() => samplingParams({ seed: MAX_SEED + 1n })).toThrow(/sampling_seed/);
    expect(() => samplingParams({ seed: 1 as unknown as bigint })).toThrow(/sampling_seed/);
  });

  it('checks token ids against the vocabulary and the kernels limits when given', () => {
    const limits = { vocabSize: 10, maxLogitBias: 2, maxTopLogprobs: 4 };
    expect(() => samplingParams({ stopTokenIds: [10] }, limits)).toThrow(
      'stop_token_ids must be token ids in [0, 10)',
    );
    expect(() => samplingParams({ tokenIdsLogprob: [10] }, limits)).toThrow(/token_ids_logprob/);
    expect(() => samplingParams({ logitBias: [[10, 1]] }, limits)).toThrow(
      'logit_bias must map token ids in [0, 10) to finite numbers',
    );
    expect(() => samplingParams({ topLogprobsNum: 5 }, limits)).toThrow(
      'top_logprobs_num must be an integer in [0, 4]',
    );
    const bias: [number, number][] = [
      [1, 1],
      [2, 1],
    ];
    expect(samplingParams({ logitBias: bias }, limits).logitBias).toEqual(bias);
    expect(() =>
      samplingParams({ logitBias: bias, minNewTokens: 1, stopTokenIds: [3] }, limits),
    ).toThrow(/take at most 2 tokens together, got 2 \+ 1/);
    expect(() => samplingParams({ minNewTokens: 3, maxNewTokens: 2 })).toThrow(
      'min_new_tokens must be an integer in [0, max_new_tokens (2)]',
    );
    expect(() => samplingParams({ stop: ['a', 1 as unknown as string] })).toThrow(
      'stop must be a string or a list of strings',
    );
    expect(() => samplingParams({ topLogprobsNum: -1 })).toThrow(
      'top_logprobs_num must be an integer >= 0',
    );
    expect(() => samplingParams({ truncatePromptTokens: -2 })).toThrow(
      'truncate_prompt_tokens must be an integer >= -1',
    );
    expect(() => samplingParams({ ignoreEos: 'yes' as unknown as boolean })).toThrow(
      'ignore_eos must be a boolean',
    );
  });
});
