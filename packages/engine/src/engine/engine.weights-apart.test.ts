// @module-tag cuda
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEVICE, FIXTURES } from '../model/runner.test-helpers.js';
import { engineLauncher, flippedCheckpoint, tensorsOf } from './engine.test-helpers.js';

const launch = engineLauncher({
  model: resolve(FIXTURES, 'llama'),
  device: DEVICE,
  dtype: 'float32',
  pageSize: 4,
});
const request = {
  inputIds: [1, 5, 9, 33, 2],
  samplingParams: { maxNewTokens: 12, ignoreEos: true },
};
/**
 * An engine of two data-parallel ranks whose rank 1 fails its next `count` weight updates before
 * writing (the engine tries a rank that alone failed once more, so 2 fail an update).
 */
const twoRanksOneFailing = (count: number) =>
  launch({ dpSize: 2, testFaults: { failWeightUpdates: { dpRank: 1, count } } });

describe('a weight update that one data-parallel rank refuses (rule 11: the ranks act as one)', () => {
  it('from disk: the engine refuses to generate until an update succeeds on every rank, then answers as a fresh engine', async () => {
    const second = flippedCheckpoint(resolve(FIXTURES, 'llama'));
    const engine = await twoRanksOneFailing(2);
    const before = await engine.generate(request);
    const failed = await engine.updateWeightsFromDisk({ modelPath: second, weightVersion: 'v2' });
    expect(failed.success).toBe(false);
    expect(failed.message).toMatch(/rank 1: .*injected test fault/);
    expect(failed.message).toMatch(/1 of 2 data-parallel ranks took it/);
    expect(engine.weightVersion()).not.toBe('v2');
    await expect(engine.generate(request)).rejects.toMatchObject({
      statusCode: 503,
      message: expect.stringMatching(/hold different weights .*update those weights again/),
    });
    const again = await engine.updateWeightsFromDisk({ modelPath: second, weightVersion: 'v2' });
    expect(again).toMatchObject({ success: true });
    expect(engine.weightVersion()).toBe('v2');
    const after = await engine.generate(request);
    expect(after.outputIds).not.toEqual(before.outputIds);
    const fresh = await launch({ model: second });
    expect(after.outputIds).toEqual((await fresh.generate(request)).outputIds);
  });

  it('from tensors: only an update of the weights left apart, taken by every rank, brings the ranks together', async () => {
    const flipped = await tensorsOf(flippedCheckpoint(resolve(FIXTURES, 'llama')));
    const [first, second] = [flipped.slice(0, 2), flipped.slice(2, 4)];
    const engine = await twoRanksOneFailing(2);
    expect((await engine.updateWeightsFromTensors({ tensors: first })).success).toBe(false);
    await expect(engine.generate(request)).rejects.toThrow(/2 tensors/);
    expect((await engine.updateWeightsFromTensors({ tensors: second })).success).toBe(true);
    await expect(engine.generate(request)).rejects.toThrow(/2 tensors/);
    expect((await engine.updateWeightsFromTensors({ tensors: first })).success).toBe(true);
    expect((await engine.generate(request)).outputIds).toHaveLength(12);
  });

  it('a rank that alone failed tries once more: a passing fault leaves the ranks together', async () => {
    const second = flippedCheckpoint(resolve(FIXTURES, 'llama'));
    const engine = await twoRanksOneFailing(1);
    const updated = await engine.updateWeightsFromDisk({ modelPath: second, weightVersion: 'v2' });
    expect(updated.success, updated.message).toBe(true);
    expect(updated.message).toMatch(
      /rank 1 took it on a second try \(first: .*injected test fault\)/,
    );
    expect(engine.weightVersion()).toBe('v2');
    const fresh = await launch({ model: second });
    expect((await engine.generate(request)).outputIds).toEqual(
      (await fresh.generate(request)).outputIds,
    );
  });

  it('an update that every rank refuses leaves the ranks together: generation goes on with the old weights', async () => {
    const engine = await launch({
      dpSize: 2,
      testFaults: { failWeightUpdates: { dpRank: 0, count: 1 } },
    });
    const before = await engine.generate(request);
    const wrong = resolve(FIXTURES, 'qwen3');
    const refused = await engine.updateWeightsFromDisk({ modelPath: wrong });
    expect(refused.success).toBe(false);
    expect(refused.message).not.toMatch(/ranks took it/);
    expect((await engine.generate(request)).outputIds).toEqual(before.outputIds);
  });
});
