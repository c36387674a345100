import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CheckpointError } from './checkpoint-error.js';
import {
  modelTensors,
  stories260K,
  testTensor,
  tinyConfigJson,
  withTempDir,
  writeHfModel,
} from './loader.test-helpers.js';
import { openCheckpoint } from './open-checkpoint.js';

describe('openCheckpoint: Hugging Face directories', () => {
  it('opens config.json + model.safetensors and returns the expected tensors in order', async () => {
    await withTempDir(async (dir) => {
      const written = await writeHfModel(dir, tinyConfigJson());
      const checkpoint = await openCheckpoint(dir);
      expect(checkpoint.format).toBe('hf-safetensors');
      expect(checkpoint.config.architecture).toBe('LlamaForCausalLM');
      expect(checkpoint.tensors.map((t) => t.name)).toEqual(written.map((t) => t.name));
      expect(checkpoint.warnings).toEqual([]);
      const embed = checkpoint.tensors[0];
      const into = new Uint8Array(embed?.byteLength ?? 0);
      await embed?.read(into);
      expect(into).toEqual(written[0]?.data);
      await checkpoint.close();
    });
  });

  it('opens sharded float16 weights', async () => {
    await withTempDir(async (dir) => {
      await writeHfModel(dir, tinyConfigJson({ architectures: ['Qwen3ForCausalLM'] }), {
        shards: 3,
        dtype: 'float16',
      });
      const checkpoint = await openCheckpoint(dir);
      expect(checkpoint.config.qkNorm).toBe(true);
      expect(new Set(checkpoint.tensors.map((t) => t.dtype))).toEqual(new Set(['float16']));
      await checkpoint.close();
    });
  });

  it('ignores lm_head.weight when tied, and warns about other extras', async () => {
    await withTempDir(async (dir) => {
      const config = tinyConfigJson({ tie_word_embeddings: true });
      const tensors = [
        ...modelTensors(config, 'bfloat16'),
        testTensor('lm_head.weight', [32, 16], 'bfloat16'),
        testTensor('extra.weight', [2], 'bfloat16'),
      ];
      await writeHfModel(dir, config, { tensors });
      const checkpoint = await openCheckpoint(dir);
      expect(checkpoint.tensors.map((t) => t.name)).not.toContain('lm_head.weight');
      expect(checkpoint.warnings).toEqual([`${dir}: tensor extra.weight is not used by the model`]);
      await checkpoint.close();
    });
  });

  it('fails naming a missing tensor or a wrong shape', async () => {
    await withTempDir(async (dir) => {
      const config = tinyConfigJson();
      const all = modelTensors(config, 'float32');
      await writeHfModel(dir, config, {
        tensors: all.filter((t) => t.name !== 'model.norm.weight'),
      });
      await expect(openCheckpoint(dir)).rejects.toThrow(`${dir}: missing tensor model.norm.weight`);
      const reshaped = all.map((t) =>
        t.name === 'lm_head.weight' ? { ...t, shape: [16, 32] } : t,
      );
      await writeHfModel(dir, config, { tensors: reshaped });
      await expect(openCheckpoint(dir)).rejects.toThrow(
        'tensor lm_head.weight has shape [16, 32], expected [32, 16]',
      );
    });
  });

  it('fails naming what the directory lacks', async () => {
    await withTempDir(async (dir) => {
      await expect(openCheckpoint(dir)).rejects.toThrow(
        `${dir}: model directory has no config.json`,
      );
      await writeFile(join(dir, 'config.json'), '{"architectures": [');
      await expect(openCheckpoint(dir)).rejects.toThrow(
        `${join(dir, 'config.json')}: not valid JSON`,
      );
      await writeFile(join(dir, 'config.json'), JSON.stringify(tinyConfigJson()));
      await expect(openCheckpoint(dir)).rejects.toThrow(
        `${dir}: has neither model.safetensors nor model.safetensors.index.json`,
      );
      const noLayers = tinyConfigJson();
      delete noLayers.num_hidden_layers;
      await writeFile(join(dir, 'config.json'), JSON.stringify(noLayers));
      await expect(openCheckpoint(dir)).rejects.toThrow(
        'missing required field "num_hidden_layers"',
      );
    });
  });
});

describe('openCheckpoint: other paths', () => {
  it('opens a llama2.c .bin file', async () => {
    const checkpoint = await openCheckpoint(stories260K());
    expect(checkpoint.format).toBe('llama2c');
    expect(checkpoint.config.rotaryLayout).toBe('adjacent');
    expect(checkpoint.tensors).toHaveLength(1 + 5 * 9 + 1);
    await checkpoint.close();
  });

  it('fails naming a missing path or an unknown file', async () => {
    await withTempDir(async (dir) => {
      const missing = join(dir, 'nope');
      await expect(openCheckpoint(missing)).rejects.toThrow(
        `${missing}: checkpoint does not exist`,
      );
      const other = join(dir, 'weights.gguf');
      await writeFile(other, 'x');
      const error = await openCheckpoint(other).catch((e: unknown) => e);
      expect(CheckpointError.isInstance(error)).toBe(true);
      expect(String(error)).toContain(`${other}: not a checkpoint: expected a model directory`);
      await mkdir(join(dir, 'sub'));
      await expect(openCheckpoint(join(dir, 'sub'))).rejects.toThrow('has no config.json');
    });
  });
});
