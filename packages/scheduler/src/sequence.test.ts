import { describe, expect, it } from 'vitest';
import { samplingParams } from './sampling-params.js';
import { Sequence } from './sequence.js';

describe('Sequence', () => {
  it('grows by appended tokens and knows what is pending', () => {
    const seq = new Sequence('a', [1, 2, 3], samplingParams({ maxNewTokens: 2 }));
    expect(seq.pendingTokens).toBe(3);
    seq.status = 'running';
    seq.computedTokens = 3;
    seq.appendToken(7);
    expect(seq.pendingTokens).toBe(1);
    expect(seq.outputTokens).toEqual([7]);
    seq.finish('length');
    expect(() => seq.appendToken(9)).toThrow(/finished/);
  });

  it('retracts to waiting, handing back its pages and keeping its tokens', () => {
    const seq = new Sequence('b', [1], samplingParams());
    seq.status = 'running';
    seq.pageTable = [4, 5];
    seq.computedTokens = 1;
    seq.appendToken(2);
    expect(seq.retract()).toEqual([4, 5]);
    expect(seq).toMatchObject({
      status: 'waiting',
      computedTokens: 0,
      pageTable: [],
      retractions: 1,
    });
    expect(seq.allTokens).toEqual([1, 2]);
    expect(seq.promptLength).toBe(1);
  });

  it('rejects empty prompts and bad sampling parameters', () => {
    expect(() => new Sequence('c', [], samplingParams())).toThrow(/empty/);
    expect(() => samplingParams({ maxNewTokens: -1 })).toThrow(/max_new_tokens/);
    expect(() => samplingParams({ topP: 0 })).toThrow(/top_p/);
    expect(() => samplingParams({ temperature: -1 })).toThrow(/temperature/);
    expect(() => samplingParams({ topK: 1.5 })).toThrow(/top_k/);
    expect(() => samplingParams({ stopTokenIds: [-1] })).toThrow(/stop_token_ids/);
  });
});
