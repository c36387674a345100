import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { testTensor, withTempDir, writeSafetensors } from './loader.test-helpers.js';
import { INDEX_FILE, openSafetensorsModel } from './safetensors-model.js';

const a = testTensor('a', [2], 'float32', 1);
const b = testTensor('b', [3], 'bfloat16', 2);
const c = testTensor('c', [1], 'float16', 3);

async function writeSharded(dir: string): Promise<void> {
  await writeSafetensors(join(dir, 's1.safetensors'), [a, b]);
  await writeSafetensors(join(dir, 's2.safetensors'), [c]);
  const weightMap = { a: 's1.safetensors', b: 's1.safetensors', c: 's2.safetensors' };
  await writeFile(join(dir, INDEX_FILE), JSON.stringify({ weight_map: weightMap }));
}

describe('openSafetensorsModel', () => {
  it('opens a single model.safetensors', async () => {
    await withTempDir(async (dir) => {
      await writeSafetensors(join(dir, 'model.safetensors'), [a, b]);
      const model = await openSafetensorsModel(dir);
      expect(model.files).toEqual([join(dir, 'model.safetensors')]);
      expect(model.tensors.map((t) => t.name)).toEqual(['a', 'b']);
      await model.close();
    });
  });

  it('opens shards through the index and reads from each', async () => {
    await withTempDir(async (dir) => {
      await writeSharded(dir);
      const model = await openSafetensorsModel(dir);
      expect(model.files).toHaveLength(2);
      expect(model.tensors.map((t) => t.name)).toEqual(['a', 'b', 'c']);
      const into = new Uint8Array(2);
      await model.tensors[2]?.read(into);
      expect(into).toEqual(c.data);
      await model.close();
    });
  });

  it('fails naming the directory when there are no weights', async () => {
    await withTempDir(async (dir) => {
      await expect(openSafetensorsModel(dir)).rejects.toThrow(
        `${dir}: has neither model.safetensors nor model.safetensors.index.json`,
      );
    });
  });

  it('fails naming a missing shard', async () => {
    await withTempDir(async (dir) => {
      await writeSharded(dir);
      await rm(join(dir, 's2.safetensors'));
      await expect(openSafetensorsModel(dir)).rejects.toThrow('shard s2.safetensors (listed in');
    });
  });

  it('fails when a shard lacks a tensor the index lists, or two shards hold one', async () => {
    await withTempDir(async (dir) => {
      await writeSharded(dir);
      await writeSafetensors(join(dir, 's2.safetensors'), [testTensor('d', [1], 'float16')]);
      await expect(openSafetensorsModel(dir)).rejects.toThrow(
        `${join(dir, 's2.safetensors')}: has no tensor c`,
      );
      await writeSafetensors(join(dir, 's2.safetensors'), [c, a]);
      await expect(openSafetensorsModel(dir)).rejects.toThrow(
        'tensor a appears in more than one shard',
      );
    });
  });

  it('fails on a malformed index', async () => {
    await withTempDir(async (dir) => {
      const index = join(dir, INDEX_FILE);
      await writeFile(index, '{');
      await expect(openSafetensorsModel(dir)).rejects.toThrow(`${index}: not a readable JSON file`);
      await writeFile(index, '{"metadata":{}}');
      await expect(openSafetensorsModel(dir)).rejects.toThrow(`${index}: has no weight_map object`);
      await writeFile(index, '{"weight_map":{"a":"../x.safetensors"}}');
      await expect(openSafetensorsModel(dir)).rejects.toThrow(
        'weight_map entry a is not a file name',
      );
    });
  });

  it('closes opened shards when a later one is bad', async () => {
    await withTempDir(async (dir) => {
      await writeSharded(dir);
      const bad = await readFile(join(dir, 's2.safetensors'));
      await writeFile(join(dir, 's2.safetensors'), bad.subarray(0, bad.length - 1));
      await expect(openSafetensorsModel(dir)).rejects.toThrow('outside the data region');
    });
  });
});
