import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { tinyConfigJson } from '../loader/loader.test-helpers.js';
import { parseModelConfig } from '../loader/model-config.js';
import type { RankLayerShape } from './decoder-layer.js';
import type {
  LayerRankInput,
  RankLayerHostWeights,
  RankOutput,
} from './decoder-layer.test-helpers.js';
import { shardBytes } from './shard-bytes.js';
import { planLlamaShards } from './shard-plan.js';

// Workers run JavaScript: the layer and its harness are transpiled and loaded as data URLs.
function moduleUrl(file: string): string {
  const source = readFileSync(new URL(file, import.meta.url), 'utf8');
  const options = { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 };
  const { outputText } = ts.transpileModule(source, { compilerOptions: options });
  return `data:text/javascript;base64,${Buffer.from(outputText).toString('base64')}`;
}

const RANK = `
const { parentPort, workerData: w } = require('node:worker_threads');
(async () => {
  const [native, layer, logits, harness] = await Promise.all(
    [w.nativeUrl, w.layerUrl, w.logitsUrl, w.harnessUrl].map((url) => import(url)),
  );
  const code = { layer: layer.tensorParallelLayer, logits: logits.tensorParallelLogits };
  parentPort.postMessage(await harness.runLayerRank(native, code, w.input));
})().catch((error) => parentPort.postMessage({ failed: String((error && error.stack) || error) }));
`;

const urls = {
  nativeUrl: import.meta.resolve('@ts/memory-saver-native'),
  layerUrl: moduleUrl('./decoder-layer.ts'),
  logitsUrl: moduleUrl('./parallel-logits.ts'),
  harnessUrl: moduleUrl('./decoder-layer.test-helpers.ts'),
};

function runRank(input: LayerRankInput): Promise<RankOutput> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(RANK, { eval: true, workerData: { ...urls, input } });
    worker.once('message', (message: RankOutput | { failed: string }) => {
      if ('failed' in message) reject(new Error(`rank ${input.rank}: ${message.failed}`));
      else resolve(message);
    });
    worker.once('error', reject);
  });
}

const config = parseModelConfig(
  tinyConfigJson({
    hidden_size: 64,
    num_attention_heads: 8,
    num_key_value_heads: 4,
    intermediate_size: 96,
    vocab_size: 64,
  }),
);
const TOKENS = 7;

/** Largest difference relative to max(1, |expected|); NaN counts as infinitely far. */
function worstError(actual: Float32Array, expected: Float32Array): number {
  let worst = actual.length === expected.length ? 0 : Number.POSITIVE_INFINITY;
  for (const [i, want] of expected.entries()) {
    const error = Math.abs((actual[i] ?? Number.NaN) - want) / Math.max(1, Math.abs(want));
    worst = Math.max(worst, Number.isNaN(error) ? Number.POSITIVE_INFINITY : error);
  }
  return worst;
}

function argmaxRows(logits: Float32Array, vocab: number): number[] {
  return Array.from({ length: logits.length / vocab }, (_, row) => {
    const scores = logits.subarray(row * vocab, (row + 1) * vocab);
    return scores.indexOf(Math.max(...scores));
  });
}

function seeded(seed: number, count: number, scale: number): Float32Array {
  let state = seed >>> 0;
  return Float32Array.from({ length: count }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return ((state / 2 ** 32) * 2 - 1) * scale;
  });
}

// Layer 0's, the final norm's and lm_head's whole tensors, by Hugging Face name; norms near 1.
const USED = /^(model\.layers\.0\.|model\.norm\.|lm_head\.)/;
const FULL = new Map(
  planLlamaShards(config, 1, 0)
    .shards.filter((s) => USED.test(s.name))
    .map((s, i) => {
      const count = s.fullShape.reduce((a, b) => a * b, 1);
      const norm = s.name.includes('norm');
      const values = seeded(1000 + i, count, norm ? 0.2 : 0.15).map((x) => (norm ? 1 + x : x));
      return [s.name, values];
    }),
);

function rankInput(tpSize: number, rank: number, groupId: string): LayerRankInput {
  const plan = planLlamaShards(config, tpSize, rank);
  const part = (name: string) => {
    const full = FULL.get(name) ?? FULL.get(`model.layers.0.${name}`);
    const shard = plan.shards.find((s) => s.name === name || s.name === `model.layers.0.${name}`);
    if (!shard || !full) throw new Error(`no tensor ${name}`);
    const bytes = shardBytes(new Uint8Array(full.buffer), shard, 4);
    return new Float32Array(bytes.slice().buffer);
  };
  const fuse = (...names: string[]) => Float32Array.from(names.flatMap((name) => [...part(name)]));
  const weights: RankLayerHostWeights = {
    inputNorm: part('input_layernorm.weight'),
    qkv: fuse('self_attn.q_proj.weight', 'self_attn.k_proj.weight', 'self_attn.v_proj.weight'),
    o: part('self_attn.o_proj.weight'),
    postNorm: part('post_attention_layernorm.weight'),
    gateUp: fuse('mlp.gate_proj.weight', 'mlp.up_proj.weight'),
    down: part('mlp.down_proj.weight'),
    finalNorm: part('model.norm.weight'),
    lmHead: part('lm_head.weight'),
  };
  const shape: RankLayerShape = {
    tokens: TOKENS,
    hiddenSize: config.hiddenSize,
    numHeads: plan.dims.numHeads,
    numKvHeads: plan.dims.numKvHeads,
    headDim: config.headDim,
    intermediateSize: plan.dims.intermediateSize,
    rmsNormEps: config.rmsNormEps,
    rotaryLayout: config.rotaryLayout,
    pageSize: 16,
    dtype: 'float32',
  };
  const half = config.headDim / 2;
  const invFreq = Float32Array.from({ length: half }, (_, i) => config.ropeTheta ** (-i / half));
  const residual = seeded(7, TOKENS * config.hiddenSize, 1);
  const rankVocab = plan.dims.vocabSize;
  return { groupId, worldSize: tpSize, rank, shape, weights, residual, invFreq, rankVocab };
}

describe('tensorParallelLayer and tensorParallelLogits', () => {
  it.each([2, 4])(
    'at TP %i (CPU ranks in worker threads) matches TP 1, the same bits on every rank (layer, then logits)',
    async (tpSize) => {
      const single = await runRank(rankInput(1, 0, `layer-tp1-${tpSize}-${process.pid}`));
      const group = `layer-tp${tpSize}-${process.pid}`;
      const ranks = Array.from({ length: tpSize }, (_, r) => r);
      const [rank0, ...others] = await Promise.all(
        ranks.map((r) => runRank(rankInput(tpSize, r, group))),
      );
      for (const other of others) expect(other).toEqual(rank0);
      if (!rank0) throw new Error('no rank 0');
      expect(worstError(rank0.residual, single.residual)).toBeLessThan(1e-5);
      expect(worstError(rank0.logits, single.logits)).toBeLessThan(1e-5);
      const vocab = config.vocabSize;
      expect(argmaxRows(rank0.logits, vocab)).toEqual(argmaxRows(single.logits, vocab));
      // The layer did something: most of the hidden state moved.
      const input = rankInput(1, 0, 'unused').residual;
      const moved = single.residual.filter((x, i) => Math.abs(x - (input[i] ?? 0)) > 1e-3);
      expect(moved.length).toBeGreaterThan(single.residual.length / 2);
    },
  );
});
