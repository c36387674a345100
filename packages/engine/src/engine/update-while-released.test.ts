// @module-tag cuda
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEVICE, FIXTURES } from '../model/runner.test-helpers.js';
import type { NamedTensor } from '../model/weights/named-tensors.js';
import type { Engine } from './engine.js';
import { editedCheckpoint, flippedCheckpoint, tensorsOf } from './engine.test-helpers.js';
import { LLAMA, llamaLauncher, outputOf } from './llama-fixture.test-helpers.js';

const launch = llamaLauncher();

/** A copy of `dir` whose safetensors file ends half-way through its data. */
function truncatedCheckpoint(dir: string): string {
  return editedCheckpoint(dir, 'truncated', (bytes) => bytes.subarray(0, bytes.length / 2));
}

/** Releases every tag and checks that the weights hold no device memory. */
async function releaseAll(engine: Engine): Promise<number> {
  expect((await engine.releaseMemoryOccupation()).success).toBe(true);
  const metrics = await engine.metrics();
  expect(metrics.residentBytesByTag).toMatchObject({ weights: 0, kv_cache: 0, cuda_graph: 0 });
  return metrics.forwardPassesTotal;
}

/** Still released, nothing mapped, no forward pass since `passes`. */
async function expectStillReleased(engine: Engine, passes: number): Promise<void> {
  const metrics = await engine.metrics();
  expect(metrics.residentBytesByTag).toMatchObject({ weights: 0, kv_cache: 0, cuda_graph: 0 });
  expect(metrics.forwardPassesTotal).toBe(passes);
  expect((await engine.isSleeping()).releasedTags).toEqual(['weights', 'kv_cache', 'cuda_graph']);
}

describe(`weight updates while the weights are released (llama fixture, ${DEVICE})`, {
  timeout: 120_000,
}, () => {
  it('from disk: the new weights go into the host backup, the GPU stays free, the resume serves them', async () => {
    const second = flippedCheckpoint(LLAMA);
    const onSecond = await outputOf(await launch({ model: second }));
    const engine = await launch();
    const first = await outputOf(engine);
    expect(onSecond).not.toEqual(first);
    // to the second checkpoint and back: a second cycle writes the same backup again
    for (const [path, expected] of [
      [second, onSecond],
      [LLAMA, first],
    ] as const) {
      const passes = await releaseAll(engine);
      const updated = await engine.updateWeightsFromDisk({ modelPath: path });
      expect(updated.success, updated.message).toBe(true);
      expect(updated.message).toMatch(/into the host backup.*prefix cache reset/);
      await expectStillReleased(engine, passes);
      expect((await engine.resumeMemoryOccupation({ tags: ['weights'] })).success).toBe(true);
      expect((await engine.resumeMemoryOccupation()).success).toBe(true);
      expect(await outputOf(engine)).toEqual(expected);
    }
  });

  it('a failing update replies failure and keeps the old backup: the resume serves the old weights', async () => {
    const engine = await launch();
    const first = await outputOf(engine);
    const passes = await releaseAll(engine);
    const embed = (await tensorsOf(LLAMA)).find((t) => t.name === 'model.embed_tokens.weight');
    if (!embed) throw new Error('the fixture has no embedding');
    const failures = [
      await engine.updateWeightsFromDisk({ modelPath: truncatedCheckpoint(LLAMA) }),
      await engine.updateWeightsFromDisk({ modelPath: resolve(FIXTURES, 'qwen3') }),
      await engine.updateWeightsFromTensors({
        tensors: [{ ...embed, shape: [embed.shape[1] as number, embed.shape[0] as number] }],
      }),
      await engine.updateWeightsFromTensors({
        tensors: [{ ...embed, data: embed.data.subarray(4) }],
      }),
    ];
    for (const reply of failures) {
      expect(reply.success, reply.message).toBe(false);
      expect(reply.message).toMatch(/old weights stay/);
    }
    expect(failures[0]?.message).toMatch(/truncated/);
    await expectStillReleased(engine, passes);
    expect((await engine.resumeMemoryOccupation()).success).toBe(true);
    expect(await outputOf(engine)).toEqual(first);
  });

  it('from tensors at dp-size 2, all and then some: the resume serves what an update in place gives', async () => {
    const flippedDir = flippedCheckpoint(LLAMA);
    const original = await tensorsOf(LLAMA);
    const flipped = await tensorsOf(flippedDir);
    const embed = original.find((t) => t.name === 'model.embed_tokens.weight') as NamedTensor;
    // The reference: the flipped model, its embedding replaced in place while awake.
    const reference = await launch({ model: flippedDir });
    const flippedOutput = await outputOf(reference);
    expect((await reference.updateWeightsFromTensors({ tensors: [embed] })).success).toBe(true);
    const mixed = await outputOf(reference);

    const engine = await launch({ dpSize: 2 });
    const first = await outputOf(engine);
    const passes = await releaseAll(engine);
    const all = await engine.updateWeightsFromTensors({ tensors: flipped });
    expect(all.success, all.message).toBe(true);
    expect(all.message).toMatch(/every weight.*into the host backup/);
    const some = await engine.updateWeightsFromTensors({ tensors: [embed] });
    expect(some.success, some.message).toBe(true);
    expect(some.message).toMatch(/^1 tensors updated \(into the host backup/);
    await expectStillReleased(engine, passes);
    expect((await engine.resumeMemoryOccupation()).success).toBe(true);
    const [a, b] = await Promise.all([outputOf(engine), outputOf(engine)]);
    expect(a).toEqual(mixed);
    expect(b).toEqual(mixed);
    expect(mixed).not.toEqual(first);
    expect(mixed).not.toEqual(flippedOutput);
    // and the pushed weights survive another sleep/wake cycle byte for byte
    await releaseAll(engine);
    expect((await engine.resumeMemoryOccupation()).success).toBe(true);
    expect(await outputOf(engine)).toEqual(mixed);
  });
});
