import { describe, expect, it } from 'vitest';
import { ByteTokenizer } from '../tokenizer/byte-tokenizer.js';
import {
  checkReplySize,
  checkStops,
  checkTextFits,
  InvalidInputError,
  kvPoolRefusal,
  MAX_REPLY_ENTRIES,
  PromptTooLongError,
  replyEntries,
} from './input-limits.js';

describe('input limits', () => {
  it('refuses (413) a text longer than the context times the most text a token stands for', () => {
    const bytes = new ByteTokenizer();
    expect(() => checkTextFits('a'.repeat(16), bytes, 16)).not.toThrow();
    const refusal = (() => {
      try {
        checkTextFits('a'.repeat(17), bytes, 16, 'prompt');
      } catch (error) {
        return error;
      }
    })();
    expect(refusal).toBeInstanceOf(PromptTooLongError);
    expect(refusal).toMatchObject({
      statusCode: 413,
      message:
        'prompt: 17 characters cannot fit the context of 16 tokens (a token of this tokenizer stands for at most 1 characters, so at most 16 fit)',
    });
    const unbounded = { ...bytes, maxTextPerToken: undefined } as unknown as ByteTokenizer;
    expect(() => checkTextFits('a'.repeat(1000), unbounded, 16)).not.toThrow();
  });

  it('takes up to 32 stop strings of up to 512 characters', () => {
    expect(checkStops(undefined)).toEqual([]);
    expect(checkStops('x')).toEqual(['x']);
    expect(checkStops(Array.from({ length: 32 }, (_, i) => `s${i}`))).toHaveLength(32);
    expect(() => checkStops(Array.from({ length: 33 }, (_, i) => `s${i}`))).toThrow(
      'stop: at most 32 strings, got 33',
    );
    expect(() => checkStops(['ok', 'y'.repeat(513)])).toThrow(
      'stop: each string at most 512 characters; string 1 has 513',
    );
    expect(() => checkStops([''])).toThrow(InvalidInputError);
    expect(() => checkStops([3])).toThrow('stop must be a non-empty string or a list of them');
  });

  it('counts reply entries: ids, and with logprobs the chosen, top and named ones', () => {
    expect(replyEntries({})).toBe(128);
    expect(replyEntries({ maxNewTokens: 0 })).toBe(1);
    expect(replyEntries({ maxNewTokens: 10, topLogprobsNum: 5 })).toBe(10);
    expect(
      replyEntries({
        maxNewTokens: 10,
        returnLogprob: true,
        topLogprobsNum: 5,
        tokenIdsLogprob: [1, 2],
      }),
    ).toBe(10 * (1 + 1 + 5 + 2));
  });

  it('refuses replies over MAX_REPLY_ENTRIES, summed over the samples', () => {
    const sample = { returnLogprob: true, topLogprobsNum: 64 };
    expect(() => checkReplySize(Array.from({ length: 1024 }, () => sample))).toThrow(
      /^the reply would hold up to 8650752 entries .* more than 4194304: lower n, max_new_tokens or top_logprobs_num$/,
    );
    const plain = Array.from({ length: 1024 }, () => ({ maxNewTokens: 4096 }));
    expect(1024 * 4096).toBe(MAX_REPLY_ENTRIES);
    expect(() => checkReplySize(plain)).not.toThrow();
  });

  it('refuses a request that needs more pages than the whole KV pool', () => {
    const request = (prompt: number, maxNewTokens: number) => ({
      inputIds: new Array<number>(prompt).fill(1),
      maxNewTokens,
    });
    expect(kvPoolRefusal(request(120, 8), 16, 0, 8)).toBeNull();
    expect(kvPoolRefusal(request(128, 0), 16, 0, 8)?.message).toBe(
      "prompt (128 tokens) + max_new_tokens (0) need 9 KV pages of 16 tokens, more than rank 0's whole KV pool (8 pages, 128 tokens): shorten the prompt or max_new_tokens, or give the KV cache more memory",
    );
    expect(kvPoolRefusal(request(100, 100), 16, 1, 8)).toBeInstanceOf(InvalidInputError);
  });
});
