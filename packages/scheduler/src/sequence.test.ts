import { describe, expect, it } from 'vitest';
import { Sequence } from './sequence.js';

describe('Sequence', () => {
  it('grows by appended tokens and finishes at maxNewTokens', () => {
    const seq = new Sequence('a', [1, 2, 3], 2);
    seq.status = 'running';
    seq.appendToken(7);
    expect(seq.status).toBe('running');
    seq.appendToken(8);
    expect(seq.status).toBe('finished');
    expect(seq.finishReason).toBe('length');
    expect(seq.outputTokens).toEqual([7, 8]);
    expect(seq.lastToken).toBe(8);
    expect(seq.pagesNeeded(4)).toBe(2);
    expect(() => seq.appendToken(9)).toThrow(/finished/);
  });

  it('retracts to waiting, handing back its pages and keeping its tokens', () => {
    const seq = new Sequence('b', [1], 10);
    seq.status = 'running';
    seq.pageTable = [4, 5];
    seq.computedTokens = 1;
    seq.appendToken(2);
    expect(seq.retract()).toEqual([4, 5]);
    expect(seq).toMatchObject({ status: 'waiting', computedTokens: 0, pageTable: [] });
    expect(seq.allTokens).toEqual([1, 2]);
    expect(seq.promptLength).toBe(1);
  });

  it('rejects empty prompts and bad limits', () => {
    expect(() => new Sequence('c', [], 1)).toThrow(/empty/);
    expect(() => new Sequence('d', [1], -1)).toThrow(RangeError);
  });
});
