import { describe, expect, it } from 'vitest';
import { buildStepMetadata } from './step-metadata.js';

const decode = [
  { tokens: [5], cachedTokens: 6, pageTable: [3, 1] },
  { tokens: [9], cachedTokens: 0, pageTable: [7] },
];

describe('buildStepMetadata', () => {
  it('lays out ids, positions, slots, query starts, lengths, last rows and page tables', () => {
    const meta = buildStepMetadata(decode, 4, 10);
    const { data, offsets: o } = meta;
    expect([meta.tokens, meta.numSeqs, meta.pageTableStride]).toEqual([2, 2, 2]);
    expect(Array.from(data.subarray(o.ids, o.ids + 2))).toEqual([5, 9]);
    expect(Array.from(data.subarray(o.positions, o.positions + 2))).toEqual([6, 0]);
    expect(Array.from(data.subarray(o.slots, o.slots + 2))).toEqual([1 * 4 + 2, 7 * 4]);
    expect(Array.from(data.subarray(o.queryStart, o.queryStart + 3))).toEqual([0, 1, 2]);
    expect(Array.from(data.subarray(o.seqLens, o.seqLens + 2))).toEqual([7, 1]);
    expect(Array.from(data.subarray(o.lastRows, o.lastRows + 2))).toEqual([0, 1]);
    expect(Array.from(data.subarray(o.pageTable))).toEqual([3, 1, 7, 0]);
  });

  it('pads a decode step to a fixed shape whose extra rows write no KV', () => {
    const meta = buildStepMetadata(decode, 4, 10, { seqs: 4, pageTableStride: 3 });
    const { data, offsets: o } = meta;
    expect([meta.tokens, meta.numSeqs, meta.pageTableStride]).toEqual([4, 4, 3]);
    expect(Array.from(data.subarray(o.ids, o.ids + 4))).toEqual([5, 9, 0, 0]);
    expect(Array.from(data.subarray(o.slots, o.slots + 4))).toEqual([6, 28, -1, -1]);
    expect(Array.from(data.subarray(o.queryStart, o.queryStart + 5))).toEqual([0, 1, 2, 3, 4]);
    expect(Array.from(data.subarray(o.seqLens, o.seqLens + 4))).toEqual([7, 1, 1, 1]);
    expect(Array.from(data.subarray(o.lastRows, o.lastRows + 4))).toEqual([0, 1, 2, 3]);
    expect(Array.from(data.subarray(o.pageTable))).toEqual([3, 1, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('refuses padding that does not fit the batch', () => {
    const pad = { seqs: 4, pageTableStride: 2 };
    const prefill = [{ tokens: [1, 2], cachedTokens: 0, pageTable: [0] }];
    expect(() => buildStepMetadata(prefill, 4, 10, pad)).toThrow(/one token per sequence/);
    expect(() => buildStepMetadata(decode, 4, 10, { ...pad, seqs: 1 })).toThrow(/cannot pad 2/);
    expect(() => buildStepMetadata(decode, 4, 10, { ...pad, pageTableStride: 1 })).toThrow(
      /holds 2 pages, more than the padded 1/,
    );
  });

  it('rejects empty batches, ids outside the vocabulary and too few pages', () => {
    expect(() => buildStepMetadata([], 4, 10)).toThrow(/at least one sequence/);
    expect(() => buildStepMetadata([{ ...decode[1], tokens: [10] }] as never, 4, 10)).toThrow(
      /outside the vocabulary/,
    );
    expect(() =>
      buildStepMetadata([{ tokens: [1], cachedTokens: 4, pageTable: [0] }], 4, 10),
    ).toThrow(/needs 2 pages, has 1/);
  });
});
