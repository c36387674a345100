import { KvPool } from '@ts/kv-pool';
import { createMemorySaver, createOps } from '@ts/memory-saver-native';
import { describe, expect, it } from 'vitest';
import { openBuiltinTiny } from '../model/builtin-tiny.js';
import { ModelRunner } from '../model/model-runner.js';
import { loadWeights } from '../model/weights/load-weights.js';
import { benchModelLabel, modelSize, openBenchModel } from './bench-model.js';
import {
  type DecodeWorkload,
  limitsFor,
  randomPrompts,
  timePrefillAndDecode,
} from './decode-timing.js';

describe('decode bench', () => {
  it('counts random:100m at 100.1M parameters without building its weights', async () => {
    const checkpoint = await openBenchModel('random:100m');
    expect(modelSize(checkpoint, 'float32')).toEqual({
      parameters: 100_092_672,
      weightBytes: 400_370_688,
      bytesPerDecodeStep: 400_370_688,
    });
    expect(modelSize(checkpoint, 'bfloat16').weightBytes).toBe(200_185_344);
    expect(modelSize(await openBenchModel('random:1b'), 'bfloat16').parameters).toBe(1_235_814_400);
    expect([benchModelLabel('random:1b'), benchModelLabel('/models/Llama-3.2-1B/')]).toEqual([
      'random:1b',
      'Llama-3.2-1B',
    ]);
    await expect(openBenchModel('random:7b')).rejects.toThrow(/known: random:100m, random:1b/);
  });

  it('times prefill and decode of a batch, which generates what each prompt does alone', async () => {
    const saver = createMemorySaver({ device: 'cpu' });
    const checkpoint = openBuiltinTiny();
    const c = checkpoint.config;
    const weights = await loadWeights(saver, checkpoint.tensors, 'float32');
    const workloads: DecodeWorkload[] = [1, 4].map((batch) => ({
      batch,
      promptTokens: 12,
      newTokens: 5,
    }));
    const limits = limitsFor(workloads, 4);
    expect(limits).toEqual({ maxTokens: 48, maxSeqs: 4, maxPagesPerSeq: 5, maxLogitRows: 4 });
    const kv = await KvPool.create(saver, {
      name: 'target',
      numLayers: c.numLayers,
      kvHeads: c.numKvHeads,
      headDim: c.headDim,
      pageSize: 4,
      numPages: 20,
      dtype: 'float32',
    });
    const runner = await ModelRunner.create(saver, createOps(saver), c, weights, limits);
    const prompts = randomPrompts(4, 12, c.vocabSize);
    expect(new Set(prompts.map((p) => p.join())).size).toBe(4);
    expect(prompts.flat().every((t) => t >= 0 && t < c.vocabSize)).toBe(true);

    const batch = timePrefillAndDecode(runner, kv, prompts, 5);
    expect(batch.prefillMs).toBeGreaterThan(0);
    expect(batch.decodeMs).toBeGreaterThan(0);
    expect(kv.pages.freePages).toBe(20);
    for (const [i, prompt] of prompts.entries()) {
      const alone = timePrefillAndDecode(runner, kv, [prompt], 5);
      expect(alone.generated).toEqual([batch.generated[i]]);
      expect(alone.generated[0]).toHaveLength(6);
    }
  });
});
