import { describe, expect, it } from 'vitest';
import { shardBytes } from './shard-bytes.js';
import type { ShardSplit, TensorShard } from './shard-plan.js';

// A [4, 6] tensor of 1-byte elements whose value is row * 10 + column.
const FULL = Uint8Array.from({ length: 24 }, (_, i) => Math.floor(i / 6) * 10 + (i % 6));

function shardOf(split: ShardSplit, shape: number[], start: number, length: number): TensorShard {
  return { name: 'w', split, fullShape: [4, 6], shape, start, length };
}

describe('shardBytes', () => {
  it('cuts rows as one contiguous view', () => {
    const rows = shardBytes(FULL, shardOf('rows', [2, 6], 2, 2), 1);
    expect([...rows]).toEqual([20, 21, 22, 23, 24, 25, 30, 31, 32, 33, 34, 35]);
    expect(rows.buffer).toBe(FULL.buffer);
  });

  it('cuts columns from every row', () => {
    const columns = shardBytes(FULL, shardOf('columns', [4, 3], 3, 3), 1);
    expect([...columns]).toEqual([3, 4, 5, 13, 14, 15, 23, 24, 25, 33, 34, 35]);
  });

  it('keeps replicated tensors whole and gives ranks past 0 nothing of a first-rank one', () => {
    expect(shardBytes(FULL, shardOf('replicated', [4, 6], 0, 4), 1)).toBe(FULL);
    expect(shardBytes(FULL, shardOf('first-rank', [], 0, 0), 1).byteLength).toBe(0);
  });

  it('counts element bytes and rejects bytes of the wrong size', () => {
    const wide = new Uint8Array(FULL.length * 2).map((_, i) => i);
    const columns = shardBytes(wide, shardOf('columns', [4, 3], 0, 3), 2);
    expect([...columns.subarray(0, 6)]).toEqual([0, 1, 2, 3, 4, 5]);
    expect([...columns.subarray(6, 8)]).toEqual([12, 13]);
    expect(() => shardBytes(FULL.subarray(1), shardOf('rows', [2, 6], 0, 2), 1)).toThrow(
      /23 bytes/,
    );
  });
});
