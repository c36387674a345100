import { Engine } from '../engine/engine.js';
import type { ModelInfo } from '../engine-api.js';
import type { TensorDtype } from '../model/loader/tensor-source.js';
import { benchModelLabel } from './bench-model.js';
import { measureDecodeReference } from './decode-reference.js';
import { formatCount } from './format.js';
import { type RolloutOptions, readRolloutOptions } from './rollout-options.js';
import { rolloutTable } from './rollout-report.js';
import { runRollout } from './rollout-run.js';
import { type RolloutRequest, rolloutRequests } from './rollout-workload.js';

/** Runs of the decode reference; the median is kept (bench:decode's --reps). */
const REFERENCE_REPS = 3;

function hasTokenizer(engine: Engine): boolean {
  try {
    engine.detokenize([]);
    return true;
  } catch {
    return false;
  }
}

function workloadLine(
  o: RolloutOptions,
  requests: readonly RolloutRequest[],
  detokenizes: boolean,
) {
  const lengths = requests.map((r) => r.maxNewTokens);
  const prompts = requests.filter((_, i) => i % o.samples === 0);
  const promptTokens = prompts.reduce((n, r) => n + r.inputIds.length, 0);
  const total = lengths.reduce((a, b) => a + b, 0);
  const atCap = lengths.filter((n) => n === o.maxNewTokens).length;
  return (
    `workload: ${o.prompts} prompts × ${o.samples} samples (seed ${o.seed}), prompts of ` +
    `${o.minPrompt}–${o.maxPrompt} random token ids (${promptTokens} in all); output lengths ` +
    `log-normal (median ${o.medianNewTokens}, sigma ${o.lengthSigma}) up to ${o.maxNewTokens}: ` +
    `${total} tokens, mean ${formatCount(total / lengths.length)}, longest ${Math.max(...lengths)}, ` +
    `${atCap} at the cap. Temperature 1, ignore_eos, return_logprob; detokenization ` +
    `${detokenizes ? 'on' : 'off (the model has no tokenizer)'}.`
  );
}

function engineLine(o: RolloutOptions, info: ModelInfo, startSeconds: number) {
  const s = info.serving;
  const on = (name: keyof typeof s.switches) => (s.switches[name] ? 'on' : 'off');
  return (
    `engine: ${info.device}, max running ${s.maxRunning} (${o.maxRunning ? 'given' : 'derived from the KV pool'}), ` +
    `max batch tokens ${s.maxBatchTokens}, KV pool ${s.maxTotalTokens} tokens in pages of ${s.pageSize}, ` +
    `prefix cache ${on('prefixCache')}, graphs ${on('cudaGraphs')}, overlap schedule ${on('overlapSchedule')}, deterministic ${on('deterministic')}; started in ${startSeconds.toFixed(1)} s.`
  );
}

/**
 * `pnpm bench:rollout`: the whole engine in this process (rank worker, scheduler, prefix cache,
 * detokenization, logprobs) on a GRPO-shaped rollout, then bench:decode's measurement at the
 * rollout's mean batch and decode context, so the engine's own overhead shows. Prints lines.
 */
export async function runRolloutBench(
  args: readonly string[],
  print: (line: string) => void,
): Promise<void> {
  const o = readRolloutOptions(args);
  const date = new Date().toISOString().slice(0, 16).replace('T', ' ');
  print(`rollout bench, ${date} UTC: pnpm bench:rollout ${args.join(' ')}`);
  const started = performance.now();
  const engine = await Engine.launch({
    model: o.model,
    device: o.device,
    dtype: o.dtype,
    maxContext: o.maxPrompt + o.maxNewTokens,
    ...(o.kvMemoryFraction !== undefined ? { kvMemoryFraction: o.kvMemoryFraction } : {}),
    ...(o.maxRunning !== undefined ? { maxRunning: o.maxRunning } : {}),
    ...(o.scheduleConservativeness !== undefined
      ? { scheduleConservativeness: o.scheduleConservativeness }
      : {}),
    ...(o.maxBatchTokens !== undefined ? { maxBatchTokens: o.maxBatchTokens } : {}),
    overlapSchedule: !o.disableOverlapSchedule,
    deterministic: o.deterministic,
  });
  const info = engine.modelInfo();
  let result: Awaited<ReturnType<typeof runRollout>>;
  try {
    const requests = rolloutRequests(o, info.vocabSize);
    print(workloadLine(o, requests, hasTokenizer(engine)));
    print(engineLine(o, info, (performance.now() - started) / 1000));
    // Warm-up: the kernels' first calls; a prompt shorter than a page caches nothing.
    const warm = (requests[0]?.inputIds ?? [0]).slice(0, Math.min(8, info.serving.pageSize - 1));
    await engine.generate({ inputIds: warm, samplingParams: { maxNewTokens: 2, ignoreEos: true } });
    result = await runRollout(engine, requests);
  } finally {
    await engine.shutdown();
  }
  const batch = Math.max(1, Math.round(result.meanBatch));
  const context = Math.max(1, Math.round(result.meanDecodeContext));
  const reference = await measureDecodeReference({
    device: o.device,
    model: o.model,
    dtype: info.dtype as TensorDtype,
    pageSize: info.serving.pageSize,
    batch,
    context,
    steps: o.referenceSteps,
    reps: REFERENCE_REPS,
    batchInvariant: o.deterministic,
  });
  print(
    `step ms = wall ÷ forward passes (${result.passes}); forward ms and in forward % = the rank's ` +
      'time launching passes and waiting for their tokens, per pass and ÷ wall (with the overlap ' +
      'schedule the next pass is queued while one runs, so this is not the device busy share); decode tok/s: ' +
      `bench:decode --context's measurement in this process (greedy, graphs, zeroed KV, no ` +
      `prefill) at batch ${batch}, context ${context}: ${o.referenceSteps} steps of ` +
      `${reference.stepMs.toFixed(2)} ms (median of ${REFERENCE_REPS}).\n`,
  );
  const labels = {
    device: info.device,
    model: benchModelLabel(o.model),
    dtype: info.dtype,
    maxRunning: info.serving.maxRunning,
  };
  for (const line of rolloutTable(labels, result, reference)) print(line);
  // bench:decode opens random:* and checkpoints, not builtin:tiny.
  if (o.model !== 'builtin:tiny')
    print(
      `\nthe same with bench:decode: pnpm bench:decode --device ${o.device} --model ${o.model} ` +
        `--dtype ${info.dtype} --batches ${batch} --context ${context} ` +
        `--new-tokens ${o.referenceSteps} --reps ${REFERENCE_REPS} --graphs-only` +
        (o.deterministic ? ' --deterministic (its invariant row)' : ''),
    );
}
