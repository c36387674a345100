// pnpm bench:decode [--device cpu|cuda] [--model random:100m|random:1b|PATH] [--dtype float32]
//   [--batches 1,8] [--prompt 128 | --context 2048] [--new-tokens 32] [--reps 5] [--graphs-only]
//   [--bandwidth-gib 1 (cpu), 8 (cuda)] [--deterministic]
// --deterministic: each row again with batch-invariant kernels (a second runner on the same
// weights and KV pool), to read the deterministic switch's cost beside it.
// Prefill and greedy decode tokens/s per batch size, beside the memory-bandwidth floor of
// decode: every weight byte read once per step at the read bandwidth measured in the same run.
import { availableParallelism } from 'node:os';
import { KvPool } from '@ts/kv-pool';
import { createMemorySaver, createOps, type MemorySaver } from '@ts/memory-saver-native';
import { sizeIoThreads } from '../io-threads.js';
import type { ModelConfig } from '../model/loader/model-config.js';
import { ModelRunner } from '../model/model-runner.js';
import { loadWeights } from '../model/weights/load-weights.js';
import {
  benchModelLabel,
  describeShape,
  type ModelSize,
  modelSize,
  openBenchModel,
} from './bench-model.js';
import { type DecodeBenchOptions, readBenchOptions, requestedDevice } from './bench-options.js';
import {
  type DecodeWorkload,
  firstDecodeContext,
  limitsFor,
  pagesPerSequence,
  randomPrompts,
  timeDecodeOverContext,
  timePrefillAndDecode,
} from './decode-timing.js';
import { cpuModelName, formatCount, formatRate, median } from './format.js';
import { measureReadBandwidth, type ReadBandwidth } from './read-bandwidth.js';
import { runBench } from './run-bench.js';

interface BenchModel {
  config: ModelConfig;
  size: ModelSize;
  runner: ModelRunner;
  /** --deterministic: the runner with batch-invariant kernels. */
  invariantRunner: ModelRunner | null;
  kv: KvPool;
  loadSeconds: number;
}

/** The model's weights, a KV pool and a runner sized for every workload. */
async function loadBenchModel(
  saver: MemorySaver,
  o: DecodeBenchOptions,
  workloads: readonly DecodeWorkload[],
): Promise<BenchModel> {
  const start = performance.now();
  const checkpoint = await openBenchModel(o.model, o.seed);
  const config = checkpoint.config;
  const weights = await loadWeights(saver, checkpoint.tensors, o.dtype);
  await checkpoint.close();
  const loadSeconds = (performance.now() - start) / 1000;
  const kv = await KvPool.create(saver, {
    name: 'target',
    numLayers: config.numLayers,
    kvHeads: config.numKvHeads,
    headDim: config.headDim,
    pageSize: o.pageSize,
    numPages: Math.max(...workloads.map((w) => w.batch * pagesPerSequence(w, o.pageSize))),
    dtype: o.dtype,
  });
  const limits = limitsFor(workloads, o.pageSize, o.context === null);
  const runner = await ModelRunner.create(saver, createOps(saver), config, weights, limits);
  const invariantRunner = o.deterministic
    ? await ModelRunner.create(saver, createOps(saver), config, weights, limits, {
        batchInvariant: true,
      })
    : null;
  const size = modelSize(checkpoint, o.dtype);
  return { config, size, runner, invariantRunner, kv, loadSeconds };
}

/** Median prefill (null without one) and decode tokens/s of `reps` runs of one batch size. */
function measureBatch(
  m: BenchModel,
  runner: ModelRunner,
  o: DecodeBenchOptions,
  batch: number,
): { prefill: number | null; decode: number } {
  const prefill: number[] = [];
  const decode: number[] = [];
  for (let rep = 0; rep < o.reps; rep++) {
    const seed = o.seed + rep + 1;
    if (o.context !== null) {
      const first = randomPrompts(batch, 1, m.config.vocabSize, seed).map((p) => p[0] ?? 0);
      const ms = timeDecodeOverContext(runner, m.kv, first, o.context, o.newTokens);
      decode.push((batch * o.newTokens) / (ms / 1000));
      continue;
    }
    const prompts = randomPrompts(batch, o.promptTokens, m.config.vocabSize, seed);
    const times = timePrefillAndDecode(runner, m.kv, prompts, o.newTokens);
    prefill.push((batch * o.promptTokens) / (times.prefillMs / 1000));
    decode.push((batch * o.newTokens) / (times.decodeMs / 1000));
  }
  return { prefill: prefill.length > 0 ? median(prefill) : null, decode: median(decode) };
}

/** The keys a decode step attends over, on average over the run's steps. */
const meanContextOf = (o: DecodeBenchOptions): number =>
  o.context ?? o.promptTokens + o.newTokens / 2;

/** KV bytes one decode step reads at `batch` sequences: keys and values of every layer. */
function kvBytesPerStep(m: BenchModel, o: DecodeBenchOptions, batch: number): number {
  return batch * meanContextOf(o) * 2 * m.config.numLayers * m.kv.slotBytes;
}

function printHeader(
  saver: MemorySaver,
  bandwidth: ReadBandwidth,
  m: BenchModel,
  o: DecodeBenchOptions,
): void {
  const date = new Date().toISOString().slice(0, 16).replace('T', ' ');
  const threads = Number(process.env.TS_CPU_THREADS) || availableParallelism();
  const host = `${cpuModelName()}, ${threads} threads`;
  const cached =
    bandwidth.cachedGbPerS === null
      ? ''
      : `; over an 8 MiB range, in cache: ${formatRate(bandwidth.cachedGbPerS)} GB/s`;
  const mb = (bytes: number) => formatCount(bytes / 1e6);
  console.log(`decode bench, ${date} UTC: pnpm bench:decode ${process.argv.slice(2).join(' ')}`);
  console.log(
    `machine: ${saver.device === 'cpu' ? host : `${saver.deviceName}, host ${host}`}; ` +
      `read bandwidth ${formatRate(bandwidth.gbPerS)} GB/s (checksum of ` +
      `${formatCount(bandwidth.bytes / 1024 ** 3)} GiB, median of ${bandwidth.passes}${cached})`,
  );
  console.log(
    `model: ${o.model} (${describeShape(m.config)}), ${formatCount(m.size.parameters / 1e6)}M ` +
      `parameters, ${o.dtype}: ${mb(m.size.weightBytes)} MB of weights, ` +
      `${mb(m.size.bytesPerDecodeStep)} MB read per decode step; built and loaded in ` +
      `${m.loadSeconds.toFixed(1)} s. ` +
      (o.context === null
        ? `Prompt ${o.promptTokens} tokens, `
        : `No prefill: decode over a mean context of ${o.context} keys (zeroed KV), `) +
      `${o.newTokens} new tokens (greedy), median of ${o.reps} runs.`,
  );
  console.log(
    'floor decode tok/s = batch × read bandwidth / (weight + KV bytes read per step); ' +
      'read GB/s = those bytes / the decode step time, to set beside the HBM read rate; ' +
      'a read bandwidth below the HBM rate (the PyTorch probe measures it) makes the floor low.\n',
  );
  console.log(
    '| device | model | params | dtype | decode steps | batch | mean context | prefill tok/s | ' +
      'decode tok/s | read GB/s | floor decode tok/s | decode / floor |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
}

async function main(): Promise<void> {
  sizeIoThreads();
  const started = performance.now();
  const args = process.argv.slice(2);
  const saver = createMemorySaver({ device: requestedDevice(args) });
  const o = readBenchOptions(args, saver.device);
  const promptTokens =
    o.context === null ? o.promptTokens : firstDecodeContext(o.context, o.newTokens);
  const workloads = o.batches.map((batch) => ({ batch, promptTokens, newTokens: o.newTokens }));
  const bandwidth = await measureReadBandwidth(saver, o.bandwidthBytes);
  const m = await loadBenchModel(saver, o, workloads);
  printHeader(saver, bandwidth, m, o);
  const runners = [m.runner, ...(m.invariantRunner ? [m.invariantRunner] : [])];
  // Warm-up: first touches of the workspace and the kernels' threads.
  const warmBatch = Math.max(...o.batches);
  for (const runner of runners) {
    if (o.context === null) {
      const warmPrompts = randomPrompts(warmBatch, Math.min(o.promptTokens, 8), m.config.vocabSize);
      timePrefillAndDecode(runner, m.kv, warmPrompts, 1);
    } else {
      timeDecodeOverContext(runner, m.kv, new Array(warmBatch).fill(0), o.context, 2);
    }
  }
  const meanContext = meanContextOf(o);
  // Decode steps as captured graphs (where the device has them) and as single launches, side by
  // side; with --deterministic, each also through the batch-invariant kernels.
  const modes = m.runner.graphsEnabled ? (o.launches ? [true, false] : [true]) : [false];
  for (const batch of o.batches) {
    for (const graphs of modes) {
      for (const runner of runners) {
        runner.graphsEnabled = graphs;
        const rate = measureBatch(m, runner, o, batch);
        const bytes = m.size.bytesPerDecodeStep + kvBytesPerStep(m, o, batch);
        const floor = (batch * bandwidth.gbPerS * 1e9) / bytes;
        const steps = `${graphs ? 'graph' : 'launches'}${runner === m.runner ? '' : ', invariant'}`;
        console.log(
          `| ${saver.deviceName} | ${benchModelLabel(o.model)} | ${formatCount(m.size.parameters / 1e6)}M | ` +
            `${o.dtype} | ${steps} | ${batch} | ${Math.round(meanContext)} | ` +
            `${rate.prefill === null ? '—' : formatRate(rate.prefill)} | ` +
            `${formatRate(rate.decode)} | ${formatRate((bytes * rate.decode) / batch / 1e9)} | ` +
            `${formatRate(floor)} | ${(rate.decode / floor).toFixed(2)} |`,
        );
      }
    }
  }
  const g = m.runner.graphStats;
  console.log(
    `\ngraphs: ${g.captures} captured, ${g.replays} replayed, ${g.failures} failed` +
      (g.lastFailure ? ` (last: ${g.lastFailure})` : ''),
  );
  console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(0)} s`);
  for (const runner of runners) await runner.free(saver);
}

await runBench(
  'pnpm bench:decode [--device cpu|cuda] [--model random:100m|random:1b|PATH] [--batches 1,8] ' +
    '[--prompt 128 | --context 2048] ... (the flags are listed at the top of src/bench/decode-bench.ts)',
  main,
);
