import { describe, expect, it } from 'vitest';
import { DEVICE } from '../model/runner.test-helpers.js';
import type { NamedTensor } from '../model/weights/named-tensors.js';
import type { Engine } from './engine.js';
import { editedCheckpoint, tensorsOf } from './engine.test-helpers.js';
import { LLAMA, llamaLauncher, outputOf } from './llama-fixture.test-helpers.js';

const DOWN = 'model.layers.0.mlp.down_proj.weight';
const REFUSED =
  /model\.layers\.0\.mlp\.down_proj\.weight has 8192 non-finite values \(NaN\/Inf; the first at element 0\); pass --allow-non-finite-weights/;

const launch = llamaLauncher();

/** A copy of the llama fixture whose layer-0 down_proj (float32, right-shaped) is all NaN. */
function nanCheckpoint(): string {
  return editedCheckpoint(LLAMA, 'nan', (bytes, { dataStart, tensors }) => {
    const entry = tensors[DOWN];
    if (!entry) throw new Error(`the fixture has no ${DOWN}`);
    const [begin, end] = entry.data_offsets;
    new Float32Array(bytes.buffer, bytes.byteOffset + dataStart + begin, (end - begin) / 4).fill(
      NaN,
    );
    return bytes;
  });
}

/** Every tensor of the fixture, down_proj replaced by NaN of its shape; and that one alone. */
async function nanTensors(): Promise<{ all: NamedTensor[]; one: NamedTensor[] }> {
  const all = (await tensorsOf(LLAMA)).map((t) =>
    t.name === DOWN
      ? { ...t, data: new Uint8Array(new Float32Array(t.data.byteLength / 4).fill(NaN).buffer) }
      : t,
  );
  return { all, one: all.filter((t) => t.name === DOWN) };
}

/** Every way a NaN tensor can arrive: pushed (one, every weight) and read from disk. */
async function pushNan(engine: Engine) {
  const { all, one } = await nanTensors();
  return [
    await engine.updateWeightsFromTensors({ tensors: one }),
    await engine.updateWeightsFromTensors({ tensors: all }),
    await engine.updateWeightsFromDisk({ modelPath: nanCheckpoint() }),
  ];
}

async function releaseAndResume(engine: Engine): Promise<void> {
  expect((await engine.releaseMemoryOccupation()).success).toBe(true);
  expect((await engine.resumeMemoryOccupation()).success).toBe(true);
}

describe(`weights holding NaN are refused unless allowed (llama fixture, ${DEVICE})`, {
  timeout: 120_000,
}, () => {
  it('awake: pushed or read from disk, refused; the old weights stay, after a release too', async () => {
    const engine = await launch({ dpSize: 2 });
    const first = await outputOf(engine);
    for (const reply of await pushNan(engine)) {
      expect(reply.success, reply.message).toBe(false);
      expect(reply.message).toMatch(/old weights stay/);
      expect(reply.message).toMatch(REFUSED);
    }
    expect(await outputOf(engine)).toEqual(first);
    await releaseAndResume(engine);
    expect(await outputOf(engine)).toEqual(first);
  });

  it('while the weights are released: refused, the backup keeps the old weights', async () => {
    const engine = await launch();
    const first = await outputOf(engine);
    expect((await engine.releaseMemoryOccupation()).success).toBe(true);
    for (const reply of await pushNan(engine)) {
      expect(reply.success, reply.message).toBe(false);
      expect(reply.message).toMatch(REFUSED);
    }
    expect((await engine.metrics()).residentBytesByTag).toMatchObject({ weights: 0 });
    expect((await engine.resumeMemoryOccupation()).success).toBe(true);
    expect(await outputOf(engine)).toEqual(first);
    await releaseAndResume(engine);
    expect(await outputOf(engine)).toEqual(first);
  });

  it('the initial load of a NaN checkpoint fails, naming the tensor', async () => {
    await expect(launch({ model: nanCheckpoint() })).rejects.toThrow(REFUSED);
  });

  it('allowNonFiniteWeights loads and takes them, awake and released', async () => {
    const nan = await outputOf(
      await launch({ model: nanCheckpoint(), allowNonFiniteWeights: true }),
    );
    const engine = await launch({ allowNonFiniteWeights: true });
    const first = await outputOf(engine);
    expect(nan).not.toEqual(first);
    for (const reply of await pushNan(engine)) expect(reply.success, reply.message).toBe(true);
    expect(await outputOf(engine)).toEqual(nan);
    // back to the fixture, then NaN again while released
    expect((await engine.updateWeightsFromDisk({ modelPath: LLAMA })).success).toBe(true);
    expect(await outputOf(engine)).toEqual(first);
    expect((await engine.releaseMemoryOccupation()).success).toBe(true);
    const { one } = await nanTensors();
    expect((await engine.updateWeightsFromTensors({ tensors: one })).success).toBe(true);
    expect((await engine.resumeMemoryOccupation()).success).toBe(true);
    expect(await outputOf(engine)).toEqual(nan);
  });
});
