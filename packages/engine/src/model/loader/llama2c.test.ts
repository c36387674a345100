import { truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkTensors, expectedLlamaTensors } from './llama-weights.js';
import { type Llama2cHeader, openLlama2c } from './llama2c.js';
import { encodeLlama2c, stories260K, testValue, withTempDir } from './loader.test-helpers.js';
import type { TensorSource } from './tensor-source.js';

const tiny: Llama2cHeader = {
  dim: 8,
  hiddenDim: 12,
  numLayers: 2,
  numHeads: 2,
  numKvHeads: 1,
  vocabSize: -10,
  seqLen: 4,
};

/** The float32 values of the tensor called `name`. */
async function floats(tensors: readonly TensorSource[], name: string): Promise<Float32Array> {
  const tensor = tensors.find((t) => t.name === name);
  if (tensor === undefined) throw new Error(`no tensor ${name}`);
  const into = new Uint8Array(tensor.byteLength);
  await tensor.read(into);
  return new Float32Array(into.buffer);
}

describe('openLlama2c on stories260K', () => {
  it('presents the checkpoint as a Llama with adjacent rotary pairs', async () => {
    const checkpoint = await openLlama2c(stories260K());
    try {
      expect(checkpoint.header).toEqual({
        dim: 64,
        hiddenDim: 172,
        numLayers: 5,
        numHeads: 8,
        numKvHeads: 4,
        vocabSize: 512,
        seqLen: 512,
      });
      expect(checkpoint.config).toMatchObject({
        architecture: 'LlamaForCausalLM',
        hiddenSize: 64,
        intermediateSize: 172,
        numKvHeads: 4,
        headDim: 8,
        vocabSize: 512,
        maxPositionEmbeddings: 512,
        tieWordEmbeddings: true,
        rotaryLayout: 'adjacent',
        ropeTheta: 10000,
        rmsNormEps: 1e-5,
        bosTokenId: 1,
        eosTokenIds: [2],
        torchDtype: 'float32',
      });
      const check = checkTensors(expectedLlamaTensors(checkpoint.config), checkpoint.tensors);
      expect(check.extra).toEqual([]);
      const values = await floats(checkpoint.tensors, 'model.norm.weight');
      expect(values).toHaveLength(64);
      expect(values.every((v) => Number.isFinite(v) && v > 0)).toBe(true);
    } finally {
      await checkpoint.close();
    }
  });
});

describe('openLlama2c layout', () => {
  it('slices the stacked arrays per layer and reads the separate classifier', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'tiny.bin');
      await writeFile(path, encodeLlama2c(tiny));
      const checkpoint = await openLlama2c(path);
      expect(checkpoint.config.tieWordEmbeddings).toBe(false);
      expect(checkpoint.config.vocabSize).toBe(10);
      checkTensors(expectedLlamaTensors(checkpoint.config), checkpoint.tensors);
      // Float index after the header: embeddings 80, rms_att 16, wq 128, then layer 1 of wk.
      const k1 = await floats(checkpoint.tensors, 'model.layers.1.self_attn.k_proj.weight');
      expect(k1).toHaveLength(4 * 8);
      expect(k1[0]).toBe(testValue(7, 80 + 16 + 128 + 32));
      // wcls comes after rms_final and the skipped freq_cis arrays.
      const totalBefore = 80 + 16 + 128 + 64 + 64 + 128 + 16 + 3 * 2 * 12 * 8 + 8 + 2 * 4 * 2;
      const head = await floats(checkpoint.tensors, 'lm_head.weight');
      expect(head[0]).toBe(testValue(7, totalBefore));
      expect(head[79]).toBe(testValue(7, totalBefore + 79));
      await checkpoint.close();
    });
  });
});

describe('openLlama2c failures', () => {
  it('rejects a truncated file', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'cut.bin');
      const bytes = encodeLlama2c(tiny);
      await writeFile(path, bytes);
      await truncate(path, bytes.byteLength - 4);
      await expect(openLlama2c(path)).rejects.toThrow(
        `${path}: not a llama2.c checkpoint: its ${bytes.byteLength - 4} bytes are shorter than its header implies (cut short?)`,
      );
      await truncate(path, 10);
      await expect(openLlama2c(path)).rejects.toThrow('shorter than the 28-byte header');
    });
  });

  it('rejects trailing bytes, bad headers and the versioned export format', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'bad.bin');
      const bytes = encodeLlama2c(tiny);
      await writeFile(path, Buffer.concat([bytes, new Uint8Array(4)]));
      await expect(openLlama2c(path)).rejects.toThrow('are longer than its header implies');
      const header = new DataView(bytes.buffer);
      header.setInt32(8, 0, true);
      await writeFile(path, bytes);
      await expect(openLlama2c(path)).rejects.toThrow(
        'not a llama2.c checkpoint: header field n_layers is not a positive size',
      );
      header.setInt32(8, 2, true);
      header.setInt32(20, 0, true);
      await writeFile(path, bytes);
      await expect(openLlama2c(path)).rejects.toThrow('header field vocab_size is 0');
      header.setInt32(0, 0x616b3432, true);
      header.setInt32(4, 2, true);
      await writeFile(path, bytes);
      await expect(openLlama2c(path)).rejects.toThrow(
        "llama2.c's newer export formats are not supported",
      );
    });
  });

  it('never echoes the bytes of a file that is not a checkpoint (update_weights_from_disk is reachable over HTTP)', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'secret.bin');
      const secret = 'RSA PRIVATE KEY: hunter2 hunter2 hunter2 hunter2';
      const bytes = Buffer.from(secret);
      const ints = Array.from({ length: 7 }, (_, i) => bytes.readInt32LE(i * 4));
      await writeFile(path, bytes);
      const message: string = await openLlama2c(path).then(
        () => 'opened',
        (error: Error) => error.message,
      );
      expect(message).toMatch(/^.*: not a llama2\.c checkpoint: /);
      for (const n of [...ints, ...ints.map((v) => Math.abs(v))])
        expect(message).not.toContain(String(n));
      expect(message).not.toMatch(/hunter2|RSA/);
    });
  });
});
