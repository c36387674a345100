import { KvPool } from '@ts/kv-pool';
import { createMemorySaver, createOps, type DeviceKind } from '@ts/memory-saver-native';
import { openBuiltinTiny } from '../model/builtin-tiny.js';
import type { TensorDtype } from '../model/loader/tensor-source.js';
import { ModelRunner } from '../model/model-runner.js';
import { loadWeights } from '../model/weights/load-weights.js';
import { openBenchModel } from './bench-model.js';
import {
  limitsFor,
  pagesPerSequence,
  randomPrompts,
  timeDecodeOverContext,
} from './decode-timing.js';
import { median } from './format.js';

/** Where bench:decode's measurement runs: one model, a batch, a mean context. */
export interface DecodeReferenceSetup {
  device: DeviceKind;
  model: string;
  dtype: TensorDtype;
  pageSize: number;
  batch: number;
  /** Mean keys a step attends over (bench:decode's --context). */
  context: number;
  /** Decode steps per run (its --new-tokens), and runs (its --reps; the median is kept). */
  steps: number;
  reps: number;
  /** Batch-invariant kernels, as the engine's deterministic switch runs them. */
  batchInvariant: boolean;
}

/** Greedy decode steps timed as bench:decode times them (forward + sampling, graphs on). */
export interface DecodeReference {
  tokensPerSecond: number;
  stepMs: number;
}

/**
 * `bench:decode --context` in this process, on its own model load: `batch` sequences decode
 * `steps` tokens over a mean context of `context` keys (zeroed KV, no prefill), one forward
 * pass and a sampling a step, as captured graphs where the device has them; a warm-up first.
 */
export async function measureDecodeReference(s: DecodeReferenceSetup): Promise<DecodeReference> {
  const saver = createMemorySaver({ device: s.device });
  const checkpoint = s.model === 'builtin:tiny' ? openBuiltinTiny() : await openBenchModel(s.model);
  const config = checkpoint.config;
  const weights = await loadWeights(saver, checkpoint.tensors, s.dtype).finally(() =>
    checkpoint.close(),
  );
  const workload = { batch: s.batch, promptTokens: s.context, newTokens: s.steps };
  const kv = await KvPool.create(saver, {
    name: 'target',
    numLayers: config.numLayers,
    kvHeads: config.numKvHeads,
    headDim: config.headDim,
    pageSize: s.pageSize,
    numPages: s.batch * pagesPerSequence(workload, s.pageSize),
    dtype: s.dtype,
  });
  const limits = limitsFor([workload], s.pageSize, false);
  const runner = await ModelRunner.create(saver, createOps(saver), config, weights, limits, {
    batchInvariant: s.batchInvariant,
  });
  try {
    const firstTokens = (rep: number) =>
      randomPrompts(s.batch, 1, config.vocabSize, rep + 1).map((p) => p[0] ?? 0);
    timeDecodeOverContext(runner, kv, firstTokens(0), s.context, 2);
    const ms = median(
      Array.from({ length: s.reps }, (_, rep) =>
        timeDecodeOverContext(runner, kv, firstTokens(rep + 1), s.context, s.steps),
      ),
    );
    return { tokensPerSecond: (s.batch * s.steps) / (ms / 1000), stepMs: ms / s.steps };
  } finally {
    await runner.free(saver);
    await kv.free();
    await saver.free(weights.allocation);
  }
}
