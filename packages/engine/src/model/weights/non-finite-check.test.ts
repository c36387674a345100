import { createMemorySaver, encodeBfloat16, type MemorySaver } from '@ts/memory-saver-native';
import { describe, expect, it } from 'vitest';
import type { TensorDtype, TensorSource } from '../loader/tensor-source.js';
import { DEVICE } from '../runner.test-helpers.js';
import { type LoadedWeights, loadWeights, replaceWeights } from './load-weights.js';

const SHAPES: [string, number[]][] = [
  ['model.embed_tokens.weight', [64, 48]],
  ['model.layers.0.self_attn.q_proj.weight', [48, 48]],
  ['model.norm.weight', [48]],
];
const Q = 'model.layers.0.self_attn.q_proj.weight';

/** Sources of `dtype` whose values depend on `seed`; `poison` puts values at indices of one. */
function sources(
  seed: number,
  dtype: 'float32' | 'bfloat16' = 'float32',
  poison?: { name: string; values: number[]; at: number[] },
): TensorSource[] {
  return SHAPES.map(([name, shape], t) => {
    const values = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) =>
      Math.fround(Math.sin(seed * 7 + t * 13 + i)),
    );
    if (poison?.name === name)
      poison.at.forEach((i, k) => {
        values[i] = poison.values[k % poison.values.length] as number;
      });
    const encoded = dtype === 'float32' ? values : encodeBfloat16(values);
    const bytes = new Uint8Array(encoded.buffer);
    return {
      name,
      shape,
      dtype,
      byteLength: bytes.byteLength,
      read: async (into) => into.set(bytes),
    };
  });
}

/** q_proj with NaN, +Inf and -Inf at its start, middle and end. */
const poisoned = (seed: number, dtype: 'float32' | 'bfloat16' = 'float32') =>
  sources(seed, dtype, { name: Q, values: [Number.NaN, Infinity, -Infinity], at: [0, 1000, 2303] });

async function contentOf(s: MemorySaver, weights: LoadedWeights): Promise<Uint8Array> {
  const out = new Uint8Array(weights.allocation.size);
  await s.copyToHost(weights.allocation, out);
  return out;
}

async function loaded(dtype: TensorDtype = 'float32') {
  const s = createMemorySaver({ device: DEVICE, chunkBytes: 64 * 1024 });
  const weights = await loadWeights(s, sources(1), dtype);
  s.setDeferredRestore(weights.allocation, true);
  return { s, weights, old: await contentOf(s, weights) };
}

const REFUSED =
  /q_proj\.weight has 3 non-finite values \(NaN\/Inf; the first at element 0\); pass --allow-non-finite-weights/;

/** The content now, and after a release and a resume (the backup's), equal `old`. */
async function expectOld(s: MemorySaver, weights: LoadedWeights, old: Uint8Array): Promise<void> {
  if (!s.isPaused('weights')) {
    expect(Buffer.compare(await contentOf(s, weights), old)).toBe(0);
    await s.pause('weights');
  }
  await s.resume('weights');
  expect(Buffer.compare(await contentOf(s, weights), old)).toBe(0);
}

describe(`weights holding NaN/Inf are refused before anything is committed (${DEVICE})`, () => {
  it('the initial load fails with the tensor and the count, and frees what it allocated', async () => {
    const s = createMemorySaver({ device: DEVICE, chunkBytes: 64 * 1024 });
    await expect(loadWeights(s, poisoned(1), 'float32')).rejects.toThrow(REFUSED);
    expect(s.stats().weights?.allocations ?? 0).toBe(0);
    const allowed = await loadWeights(s, poisoned(1), 'float32', { allowNonFinite: true });
    const q = new Float32Array(
      (await contentOf(s, allowed)).buffer,
      allowed.address(Q) - Number(allowed.allocation.address),
      2304,
    );
    expect([q[0], q[1000], q[2303]]).toEqual([Number.NaN, Infinity, -Infinity]);
  });

  it('every weight while awake: the device and, after a release, the backup keep the old ones', async () => {
    const { s, weights, old } = await loaded();
    await expect(
      replaceWeights(s, weights, poisoned(2), { complete: true, released: s.isPaused('weights') }),
    ).rejects.toThrow(REFUSED);
    await expectOld(s, weights, old);
  });

  it('some weights while awake: none is written, not even the finite ones before it', async () => {
    const { s, weights, old } = await loaded();
    const some = poisoned(2).filter((t) => t.name !== 'model.norm.weight');
    await expect(
      replaceWeights(s, weights, some, { complete: false, released: s.isPaused('weights') }),
    ).rejects.toThrow(REFUSED);
    await expectOld(s, weights, old);
  });

  it('while released, all or some: the backup keeps the old weights', async () => {
    const { s, weights, old } = await loaded('bfloat16');
    await s.pause('weights');
    await expect(
      replaceWeights(s, weights, poisoned(2), { complete: true, released: s.isPaused('weights') }),
    ).rejects.toThrow(REFUSED);
    await expect(
      replaceWeights(s, weights, poisoned(2).slice(1), {
        complete: false,
        released: s.isPaused('weights'),
      }),
    ).rejects.toThrow(REFUSED);
    expect(s.stats().weights?.residentBytes).toBe(0);
    await expectOld(s, weights, old);
  });

  it('allowNonFinite writes them, on the device and into the backup', async () => {
    const { s, weights, old } = await loaded();
    const allow = { allowNonFinite: true };
    expect(
      await replaceWeights(
        s,
        weights,
        poisoned(2),
        { complete: true, released: s.isPaused('weights') },
        allow,
      ),
    ).toBe('device');
    const onDevice = await contentOf(s, weights);
    expect(Buffer.compare(onDevice, old)).not.toBe(0);
    await s.pause('weights');
    expect(
      await replaceWeights(
        s,
        weights,
        poisoned(3).slice(1, 2),
        { complete: false, released: s.isPaused('weights') },
        allow,
      ),
    ).toBe('backup');
    await s.resume('weights');
    expect(Buffer.compare(await contentOf(s, weights), onDevice)).not.toBe(0);
  });

  it('checks the values in the source dtype, before any conversion', async () => {
    // bfloat16 NaN/Inf loaded as float32: refused
    const s = createMemorySaver({ device: DEVICE, chunkBytes: 64 * 1024 });
    await expect(loadWeights(s, poisoned(1, 'bfloat16'), 'float32')).rejects.toThrow(REFUSED);
    // float32's largest finite value is finite: loaded, though float16 rounds it to infinity
    const big = sources(1, 'float32', { name: Q, values: [3.4028234663852886e38], at: [7] });
    await expect(loadWeights(s, big, 'float16')).resolves.toBeDefined();
  });
});
