import type { StepStats } from '@ts/scheduler';
import type { Engine } from '../engine/engine.js';
import type { RolloutRequest } from './rollout-workload.js';

/** What one rollout measured, over the span from the first submission to the last reply. */
export interface RolloutResult {
  requests: number;
  outputTokens: number;
  wallSeconds: number;
  outputTokensPerSecond: number;
  /** Forward passes the engine ran, and the sequences in each, on average. */
  passes: number;
  meanBatch: number;
  /** Mean context (KV read plus the new token) of a decoding sequence. */
  meanDecodeContext: number;
  /** Wall time per pass, and the part of it inside the forward pass and sampling. */
  stepMs: number;
  forwardMs: number;
  /** Time inside forward passes and sampling ÷ wall: the share the device could be busy. */
  forwardShare: number;
}

/** The sums of the span between two reads. */
function since(before: StepStats, after: StepStats): StepStats {
  const span = { ...after };
  for (const key of Object.keys(span) as (keyof StepStats)[]) span[key] -= before[key];
  return span;
}

/**
 * Submits every request at once (sampled at temperature 1, each its own seed, `ignoreEos` so
 * each output is exactly as long as drawn, logprobs returned) and waits for all. Throws when
 * an output is not as long as drawn or lacks its logprobs.
 */
export async function runRollout(
  engine: Engine,
  requests: readonly RolloutRequest[],
): Promise<RolloutResult> {
  const before = await engine.stepStats();
  const start = performance.now();
  const outputs = await Promise.all(
    requests.map((r) =>
      engine.generate({
        rid: r.rid,
        inputIds: r.inputIds,
        samplingParams: {
          maxNewTokens: r.maxNewTokens,
          temperature: 1,
          seed: r.seed,
          ignoreEos: true,
        },
        returnLogprob: true,
      }),
    ),
  );
  const wallSeconds = (performance.now() - start) / 1000;
  const steps = since(before, await engine.stepStats());
  for (const [i, output] of outputs.entries()) {
    const wanted = requests[i]?.maxNewTokens;
    const logprobs = output.metaInfo.outputTokenLogprobs?.length;
    if (output.outputIds.length !== wanted || logprobs !== wanted)
      throw new Error(
        `${output.metaInfo.id}: ${output.outputIds.length} tokens and ${logprobs} logprobs, ` +
          `${wanted} drawn (${output.metaInfo.finishReason?.type})`,
      );
  }
  const outputTokens = outputs.reduce((n, o) => n + o.outputIds.length, 0);
  const passes = Math.max(1, steps.passes);
  return {
    requests: requests.length,
    outputTokens,
    wallSeconds,
    outputTokensPerSecond: outputTokens / wallSeconds,
    passes: steps.passes,
    meanBatch: steps.sequences / passes,
    meanDecodeContext: steps.decodeContextTokens / Math.max(1, steps.decodeSequences),
    stepMs: (wallSeconds * 1000) / passes,
    forwardMs: steps.executeMs / passes,
    forwardShare: steps.executeMs / (wallSeconds * 1000),
  };
}
