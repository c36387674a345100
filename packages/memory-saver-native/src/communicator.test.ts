import { describe, expect, it } from 'vitest';
import {
  bytesOf,
  errorOf,
  freshGroupId,
  type RankPlan,
  runRanks,
} from './communicator.test-helpers.js';
import { decodeBfloat16, decodeFloat16, encodeBfloat16, encodeFloat16 } from './half-precision.js';
import type { DType } from './ops-types.js';

// Odd, and each rank's slice of it longer than the native reduction's 1024-element block.
const COUNT = 5003;

/** Values of every magnitude, so a sum in another order would round differently. */
function valuesOf(rank: number, count: number): Float32Array {
  const values = new Float32Array(count);
  let state = 0x9e3779b9 ^ (rank * 0x85ebca6b);
  for (let i = 0; i < count; i += 1) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    const exponent = (state % 24) - 12;
    values[i] = ((state / 2 ** 32) * 2 - 1) * 2 ** exponent;
  }
  return values;
}

function encode(values: Float32Array, dtype: DType): Uint8Array {
  if (dtype === 'float32') return new Uint8Array(values.buffer.slice(0));
  const bits = dtype === 'bfloat16' ? encodeBfloat16(values) : encodeFloat16(values);
  return new Uint8Array(bits.buffer);
}

function decode(bytes: Uint8Array, dtype: DType): Float32Array {
  const copy = bytes.slice().buffer;
  if (dtype === 'float32') return new Float32Array(copy);
  const bits = new Uint16Array(copy);
  return dtype === 'bfloat16' ? decodeBfloat16(bits) : decodeFloat16(bits);
}

/** The contract's sum: rank 0 + rank 1 + ..., each addition rounded to float32. */
function sumInRankOrder(inputs: Uint8Array[], dtype: DType): Uint8Array {
  const decoded = inputs.map((input) => decode(input, dtype));
  const sums = new Float32Array(decoded[0]?.length ?? 0);
  for (let i = 0; i < sums.length; i += 1) {
    let sum = decoded[0]?.[i] ?? 0;
    for (let r = 1; r < decoded.length; r += 1) sum = Math.fround(sum + (decoded[r]?.[i] ?? 0));
    sums[i] = sum;
  }
  return encode(sums, dtype);
}

function concat(pieces: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(pieces.reduce((n, piece) => n + piece.byteLength, 0));
  let offset = 0;
  for (const piece of pieces) {
    out.set(piece, offset);
    offset += piece.byteLength;
  }
  return out;
}

function plansOf(worldSize: number, dtype: DType, make: (rank: number) => Partial<RankPlan>) {
  const groupId = freshGroupId(`ranks${worldSize}-${dtype}`);
  return Array.from({ length: worldSize }, (_, rank) => ({
    groupId,
    worldSize,
    rank,
    dtype,
    input: encode(valuesOf(rank, COUNT), dtype),
    steps: [],
    ...make(rank),
  }));
}

describe('Communicator across worker threads', () => {
  it.each([
    [2, 'float32'],
    [4, 'float32'],
    [4, 'bfloat16'],
    [4, 'float16'],
  ] as const)(
    '%i ranks, %s: gather, then sum in rank order, bitwise equal on every rank',
    async (worldSize, dtype) => {
      const plans = plansOf(worldSize, dtype, () => ({
        steps: [{ op: 'allGather' }, { op: 'allReduceSum' }],
      }));
      const results = await runRanks(plans);
      const inputs = plans.map((plan) => plan.input);
      const expectedSum = sumInRankOrder(inputs, dtype);
      for (const steps of results) {
        expect(bytesOf(steps[0])).toEqual(concat(inputs));
        expect(bytesOf(steps[1])).toEqual(expectedSum);
      }
    },
  );

  it('sums in rank order, not in arrival order', async () => {
    // 1e8 + 1 rounds back to 1e8 in float32: rank order gives 1, reversed order gives 0.
    const column = [1e8, 1, -1e8, 1];
    const plans = plansOf(4, 'float32', (rank) => ({
      input: encode(new Float32Array([column[rank] ?? 0]), 'float32'),
      startDelayMs: (3 - rank) * 100, // the last rank arrives first
      steps: [{ op: 'allReduceSum' }, { op: 'allReduceSum' }],
    }));
    const results = await runRanks(plans);
    for (const steps of results) {
      expect(decode(bytesOf(steps[0]), 'float32')[0]).toBe(1);
      expect(decode(bytesOf(steps[1]), 'float32')[0]).toBe(4);
    }
  });

  it('every rank throws when ranks disagree on the count, and the group stays usable', async () => {
    const plans = plansOf(2, 'float32', (rank) => ({
      steps: [
        { op: 'allReduceSum', count: rank === 0 ? 8 : 4 },
        { op: 'allGather', count: 8 },
      ],
    }));
    const results = await runRanks(plans);
    for (const steps of results) {
      expect(errorOf(steps[0]).error).toMatch(
        /ranks disagree on the collective: rank 0 called allReduceSum\(count 8.*rank 1 called allReduceSum\(count 4/,
      );
      expect(bytesOf(steps[1]).byteLength).toBe(2 * COUNT * 4);
    }
  });

  it('gathers [rows, columns] pieces side by side into full rows', async () => {
    const [rows, columns] = [3, 4];
    const count = rows * columns;
    const plans = plansOf(4, 'float32', () => ({
      steps: [
        { op: 'allGather', count, rows },
        { op: 'allGather', count: 10, rows },
      ],
    }));
    const results = await runRanks(plans);
    const inputs = plans.map((plan) => decode(plan.input, 'float32'));
    const expected = new Float32Array(count * 4);
    for (let row = 0; row < rows; row += 1) {
      for (const [rank, input] of inputs.entries()) {
        const piece = input.subarray(row * columns, (row + 1) * columns);
        expected.set(piece, row * columns * 4 + rank * columns);
      }
    }
    for (const steps of results) {
      expect(decode(bytesOf(steps[0]), 'float32').subarray(0, count * 4)).toEqual(expected);
      expect(errorOf(steps[1]).error).toMatch(/count 10 is not a whole number of 3 rows/);
    }
  });

  it('every rank throws when ranks disagree on the rows of a gather', async () => {
    const plans = plansOf(2, 'float32', (rank) => ({
      steps: [{ op: 'allGather', count: 12, rows: rank + 1 }],
    }));
    for (const steps of await runRanks(plans)) {
      expect(errorOf(steps[0]).error).toMatch(/rank 0 called allGather\(count 12, rows 1.*rows 2/);
    }
  });

  it('a rank that never arrives times out with a message, and the group stays broken', async () => {
    const plans = plansOf(2, 'float32', (rank) =>
      rank === 0
        ? { timeoutMs: 300, steps: [{ op: 'allReduceSum' }, { op: 'allGather' }] }
        : { holdMs: 1500, steps: [] },
    );
    const [rank0] = await runRanks(plans);
    const timedOut = errorOf(rank0?.[0]);
    expect(timedOut.error).toMatch(
      /rank 0 waited 300 ms in allReduceSum.* for rank 1, which never arrived/,
    );
    expect(timedOut.ms).toBeGreaterThanOrEqual(250);
    const after = errorOf(rank0?.[1]);
    expect(after.error).toMatch(/is broken/);
    expect(after.ms).toBeLessThan(100);
  });

  it('a rank that closes breaks the group for the ranks still in it, at once', async () => {
    const plans = plansOf(2, 'float32', (rank) => ({
      timeoutMs: 60_000,
      steps:
        rank === 0 ? [{ op: 'allReduceSum' }, { op: 'allReduceSum' }] : [{ op: 'allReduceSum' }],
    }));
    const [rank0] = await runRanks(plans);
    bytesOf(rank0?.[0]);
    const failed = errorOf(rank0?.[1]);
    expect(failed.error).toMatch(/rank 1 closed its communicator/);
    expect(failed.ms).toBeLessThan(10_000);
  });
});
