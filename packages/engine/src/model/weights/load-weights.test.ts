// @module-tag cuda
import { createMemorySaver, type MemorySaver } from '@ts/memory-saver-native';
import { describe, expect, it } from 'vitest';
import type { TensorDtype, TensorSource } from '../loader/tensor-source.js';
import { DEVICE } from '../runner.test-helpers.js';
import { type LoadedWeights, loadWeights, replaceWeights } from './load-weights.js';

const SHAPES: [string, number[]][] = [
  ['model.embed_tokens.weight', [64, 48]],
  ['model.layers.0.self_attn.q_proj.weight', [48, 48]],
  ['model.layers.0.self_attn.k_proj.weight', [16, 48]],
  ['model.norm.weight', [48]],
];

/** float32 sources whose elements depend on `seed`; `failAt` names one whose read fails. */
function sources(seed: number, failAt?: string): TensorSource[] {
  return SHAPES.map(([name, shape], t) => {
    const values = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) =>
      Math.fround(Math.sin(seed * 7 + t * 13 + i)),
    );
    const bytes = new Uint8Array(values.buffer);
    return {
      name,
      shape,
      dtype: 'float32',
      byteLength: bytes.byteLength,
      read: async (into) => {
        if (name === failAt) {
          into.set(bytes.subarray(0, into.byteLength / 2));
          throw new Error(`I/O error reading ${name}`);
        }
        into.set(bytes);
      },
    };
  });
}

async function contentOf(s: MemorySaver, weights: LoadedWeights): Promise<Uint8Array> {
  const out = new Uint8Array(weights.allocation.size);
  await s.copyToHost(weights.allocation, out);
  return out;
}

async function loaded(dtype: TensorDtype) {
  const s = createMemorySaver({ device: DEVICE, chunkBytes: 64 * 1024 });
  const weights = await loadWeights(s, sources(1), dtype);
  s.setDeferredRestore(weights.allocation, true);
  return { s, weights, old: await contentOf(s, weights) };
}

describe(`replacing weights while they are released (${DEVICE})`, () => {
  for (const dtype of ['float32', 'bfloat16'] as const) {
    it(`${dtype}: all go into the backup, the GPU stays free, the resume restores them`, async () => {
      const { s, weights, old } = await loaded(dtype);
      const fresh = await loadWeights(s, sources(2), dtype);
      const want = await contentOf(s, fresh);
      await s.pause('weights');
      expect(
        await replaceWeights(s, weights, sources(2), {
          complete: true,
          released: s.isPaused('weights'),
        }),
      ).toBe('backup');
      expect(s.stats().weights?.residentBytes).toBe(0);
      expect(s.residentBytes(weights.allocation)).toBe(0);
      await s.resume('weights');
      expect(s.restorePending(weights.allocation)).toBe(true);
      expect(Buffer.compare(await contentOf(s, weights), want)).toBe(0);
      expect(Buffer.compare(want, old)).not.toBe(0);
      // the backup is clean: the next release copies nothing
      expect((await s.pause('weights')).copiedBytes).toBe(0);
    });
  }

  it('a read that fails part-way leaves the old backup: the resume restores the old bytes', async () => {
    const { s, weights, old } = await loaded('bfloat16');
    await s.pause('weights');
    for (const failAt of [SHAPES[0]?.[0], SHAPES[3]?.[0]]) {
      const all = sources(2, failAt);
      await expect(
        replaceWeights(s, weights, all, { complete: true, released: s.isPaused('weights') }),
      ).rejects.toThrow(/I\/O error/);
      const some = [all[0], all[3]] as TensorSource[];
      await expect(
        replaceWeights(s, weights, some, { complete: false, released: s.isPaused('weights') }),
      ).rejects.toThrow(/I\/O error/);
    }
    expect(s.stats().weights?.residentBytes).toBe(0);
    await s.resume('weights');
    expect(Buffer.compare(await contentOf(s, weights), old)).toBe(0);
  });

  it('some weights only: the others keep their old bytes, as an update in place would', async () => {
    const { s, weights } = await loaded('float32');
    const inPlace = await loadWeights(s, sources(1), 'float32');
    const some = sources(3).filter((_, i) => i === 1 || i === 3);
    expect(await replaceWeights(s, inPlace, some, { complete: false, released: false })).toBe(
      'device',
    );
    await s.pause('weights');
    expect(
      await replaceWeights(s, weights, some, { complete: false, released: s.isPaused('weights') }),
    ).toBe('backup');
    await s.resume('weights');
    expect(Buffer.compare(await contentOf(s, weights), await contentOf(s, inPlace))).toBe(0);
  });
});
