import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEVICE, FIXTURES } from '../model/runner.test-helpers.js';
import type { NamedTensor } from '../model/weights/named-tensors.js';
import type { Engine } from './engine.js';
import { engineLauncher, tensorsOf } from './engine.test-helpers.js';

const LLAMA = resolve(FIXTURES, 'llama');
const DOWN = 'model.layers.0.mlp.down_proj.weight';
const REFUSED =
  /model\.layers\.0\.mlp\.down_proj\.weight has 8192 non-finite values \(NaN\/Inf; the first at element 0\); pass --allow-non-finite-weights/;
const request = {
  inputIds: [1, 5, 9, 33, 2],
  samplingParams: { maxNewTokens: 16, ignoreEos: true },
};

const launch = engineLauncher({
  model: LLAMA,
  device: DEVICE,
  numPages: 128,
  pageSize: 4,
  maxContext: 512,
});

const outputOf = async (engine: Engine) => (await engine.generate(request)).outputIds;

/** A copy of the llama fixture whose layer-0 down_proj (float32, right-shaped) is all NaN. */
function nanCheckpoint(): string {
  const out = mkdtempSync(join(tmpdir(), 'ts-nan-'));
  copyFileSync(join(LLAMA, 'config.json'), join(out, 'config.json'));
  const bytes = readFileSync(join(LLAMA, 'model.safetensors'));
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
  const [begin, end] = header[DOWN].data_offsets as [number, number];
  const data = 8 + headerLength;
  new Float32Array(bytes.buffer, bytes.byteOffset + data + begin, (end - begin) / 4).fill(NaN);
  writeFileSync(join(out, 'model.safetensors'), bytes);
  return out;
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
