// pnpm bench:decode [--device cpu|cuda] [--model random:100m|random:1b|PATH] [--dtype float32]
//   [--batches 1,8] [--prompt 128] [--new-tokens 32] [--reps 5] [--bandwidth-gib 1]
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
  limitsFor,
  pagesPerSequence,
  randomPrompts,
  timePrefillAndDecode,
} from './decode-timing.js';
import { cpuModelName, formatCount, formatRate, median } from './format.js';
import { measureReadBandwidth, type ReadBandwidth } from './read-bandwidth.js';

interface BenchModel {
  config: ModelConfig;
  size: ModelSize;
  runner: ModelRunner;
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
  const limits = limitsFor(workloads, o.pageSize);
  const runner = await ModelRunner.create(saver, createOps(saver), config, weights, limits);
  return { config, size: modelSize(checkpoint, o.dtype), runner, kv, loadSeconds };
}

/** Median prefill and decode tokens/s of `reps` runs of one batch size, each on new prompts. */
function measureBatch(
  m: BenchModel,
  o: DecodeBenchOptions,
  batch: number,
): { prefill: number; decode: number } {
  const prefill: number[] = [];
  const decode: number[] = [];
  for (let rep = 0; rep < o.reps; rep++) {
    const prompts = randomPrompts(batch, o.promptTokens, m.config.vocabSize, o.seed + rep + 1);
    const times = timePrefillAndDecode(m.runner, m.kv, prompts, o.newTokens);
    prefill.push((batch * o.promptTokens) / (times.prefillMs / 1000));
    decode.push((batch * o.newTokens) / (times.decodeMs / 1000));
  }
  return { prefill: median(prefill), decode: median(decode) };
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
      `${m.loadSeconds.toFixed(1)} s. Prompt ${o.promptTokens} tokens, ${o.newTokens} new tokens ` +
      `(greedy), median of ${o.reps} runs.`,
  );
  console.log(
    'floor decode tok/s = batch × read bandwidth / weight bytes read per step ' +
      '(weights only, KV reads not counted).\n',
  );
  console.log(
    '| device | model | params | dtype | decode steps | batch | prefill tok/s | decode tok/s | ' +
      'floor decode tok/s | decode / floor |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
}

async function main(): Promise<void> {
  sizeIoThreads();
  const started = performance.now();
  const args = process.argv.slice(2);
  const saver = createMemorySaver({ device: requestedDevice(args) });
  const o = readBenchOptions(args, saver.device);
  const workloads = o.batches.map((batch) => ({
    batch,
    promptTokens: o.promptTokens,
    newTokens: o.newTokens,
  }));
  const bandwidth = await measureReadBandwidth(saver, o.bandwidthBytes);
  const m = await loadBenchModel(saver, o, workloads);
  printHeader(saver, bandwidth, m, o);
  // Warm-up: first touches of the workspace and the kernels' threads.
  const warmPrompts = randomPrompts(
    Math.max(...o.batches),
    Math.min(o.promptTokens, 8),
    m.config.vocabSize,
  );
  timePrefillAndDecode(m.runner, m.kv, warmPrompts, 1);
  const stepsPerSecond = (bandwidth.gbPerS * 1e9) / m.size.bytesPerDecodeStep;
  // Decode steps as captured graphs (where the device has them) and as single launches, side by side.
  const modes = m.runner.graphsEnabled ? [true, false] : [false];
  for (const batch of o.batches) {
    for (const graphs of modes) {
      m.runner.graphsEnabled = graphs;
      const rate = measureBatch(m, o, batch);
      const floor = batch * stepsPerSecond;
      console.log(
        `| ${saver.deviceName} | ${benchModelLabel(o.model)} | ${formatCount(m.size.parameters / 1e6)}M | ` +
          `${o.dtype} | ${graphs ? 'graph' : 'launches'} | ${batch} | ${formatRate(rate.prefill)} | ` +
          `${formatRate(rate.decode)} | ${formatRate(floor)} | ${(rate.decode / floor).toFixed(2)} |`,
      );
    }
  }
  const g = m.runner.graphStats;
  console.log(
    `\ngraphs: ${g.captures} captured, ${g.replays} replayed, ${g.failures} failed` +
      (g.lastFailure ? ` (last: ${g.lastFailure})` : ''),
  );
  console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(0)} s`);
  await m.runner.free(saver);
}

await main();
