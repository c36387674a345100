import type { GenerateReply } from '@ts/client';
import * as z from 'zod';
import { checkReplySize } from '../engine/input-limits.js';
import type { GenerateInput, GenerateOutput, SamplingInput } from '../engine-api.js';
import { asRequestError, RequestError } from './errors.js';

export const tokenId = z.number().int().nonnegative();
/** The most samples one prompt may ask for (`n`). */
export const MAX_SAMPLES = 1024;
/** The most generations one HTTP request may ask for: its prompts × n. */
export const MAX_GENERATIONS = 16 * MAX_SAMPLES;
export const stopSchema = z.union([z.string(), z.array(z.string())], {
  error: 'must be a string or a list of strings',
});

/** A field that may be left out, null, or `off` (for a batch, a list of `off`), and nothing else. */
export function onlyOff(off: number | boolean | null, message: string) {
  const isOff = (v: unknown) => v === off || v === null;
  return z
    .unknown()
    .refine((v) => isOff(v) || (Array.isArray(v) && v.every(isOff)), { message })
    .optional();
}

/**
 * SGLang's `sampling_params`; nulls (Python's None) mean omitted, unknown keys are dropped.
 * Sampling controls the engine does not implement are taken at their neutral values only, so
 * a request that sets one is refused rather than sampled without it.
 */
export const samplingParamsSchema = z.object({
  max_new_tokens: z.number().int().nonnegative().nullish(),
  temperature: z.number().nonnegative().nullish(),
  top_p: z.number().gt(0).lte(1).nullish(),
  top_k: z.number().int().nullish(),
  stop: stopSchema.nullish(),
  stop_token_ids: z.array(tokenId).nullish(),
  ignore_eos: z.boolean().nullish(),
  skip_special_tokens: z.boolean().nullish(),
  no_stop_trim: z.boolean().nullish(),
  structural_tag: onlyOff(null, 'structural_tag (constrained decoding) is not supported'),
  sampling_seed: z.number().int().nullish(),
  n: z.number().int().min(1).max(MAX_SAMPLES).nullish(),
  min_new_tokens: z.number().int().nonnegative().nullish(),
  logit_bias: z.record(z.string(), z.number()).nullish(),
  min_p: onlyOff(0, 'min_p is not supported: leave it out or 0'),
  repetition_penalty: onlyOff(1, 'repetition_penalty is not supported: leave it out or 1'),
  frequency_penalty: onlyOff(0, 'frequency_penalty is not supported: leave it out or 0'),
  presence_penalty: onlyOff(0, 'presence_penalty is not supported: leave it out or 0'),
  json_schema: onlyOff(null, 'json_schema (constrained decoding) is not supported'),
  regex: onlyOff(null, 'regex (constrained decoding) is not supported'),
  ebnf: onlyOff(null, 'ebnf (constrained decoding) is not supported'),
});

export type SamplingParamsBody = z.infer<typeof samplingParamsSchema>;

/** The engine's sampling input, without the fields left out. */
export function toSamplingInput(p: SamplingParamsBody | null | undefined): SamplingInput {
  if (!p) return {};
  return compact({
    maxNewTokens: p.max_new_tokens,
    temperature: p.temperature,
    topP: p.top_p,
    topK: p.top_k,
    seed: p.sampling_seed,
    stop: p.stop,
    stopTokenIds: p.stop_token_ids,
    ignoreEos: p.ignore_eos,
    skipSpecialTokens: p.skip_special_tokens,
    noStopTrim: p.no_stop_trim,
    minNewTokens: p.min_new_tokens,
    logitBias: p.logit_bias,
  });
}

/** Drops the keys whose value is null or undefined. */
export function compact<T extends object>(value: { [K in keyof T]: T[K] | null | undefined }): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v != null)) as T;
}

export function toGenerateReply(out: GenerateOutput): GenerateReply {
  const m = out.metaInfo;
  return {
    text: out.text,
    output_ids: out.outputIds,
    meta_info: {
      id: m.id,
      prompt_tokens: m.promptTokens,
      cached_tokens: m.cachedTokens,
      completion_tokens: m.completionTokens,
      finish_reason: m.finishReason,
      e2e_latency: m.e2eLatency,
      weight_version: m.weightVersion,
      ...(m.outputTokenLogprobs
        ? {
            output_token_logprobs: m.outputTokenLogprobs,
            ...(m.inputTokenLogprobs ? { input_token_logprobs: m.inputTokenLogprobs } : {}),
            ...(m.outputTokenIdsLogprobs
              ? { output_token_ids_logprobs: m.outputTokenIdsLogprobs }
              : {}),
            ...(m.outputTopLogprobs ? { output_top_logprobs: m.outputTopLogprobs } : {}),
          }
        : {}),
    },
  };
}

/**
 * `n` samples of one input: n inputs with rids `<rid>-0` .. `<rid>-(n-1)`, each drawing its
 * own seed, or `seed + j` where the input gives a seed (repeatable, and still n different).
 */
export function samplesOf(
  input: GenerateInput & { rid: string },
  n: number,
): (GenerateInput & { rid: string })[] {
  if (n === 1) return [input];
  const seed = input.samplingParams?.seed;
  return Array.from({ length: n }, (_, j) => ({
    ...input,
    rid: `${input.rid}-${j}`,
    samplingParams: { ...input.samplingParams, ...(seed !== undefined ? { seed: seed + j } : {}) },
  }));
}

/** Refuses (400) a request for more than MAX_GENERATIONS generations, before any is made. */
export function checkGenerations(count: number): void {
  if (count > MAX_GENERATIONS)
    throw new RequestError(
      400,
      `the request asks for ${count} generations (prompts × n), more than ${MAX_GENERATIONS}`,
    );
}

/** Refuses (400) inputs whose replies together may be too large (MAX_REPLY_ENTRIES). */
export function checkReplies(inputs: readonly GenerateInput[]): void {
  try {
    checkReplySize(
      inputs.map((input) => ({
        maxNewTokens: input.samplingParams?.maxNewTokens,
        returnLogprob: input.returnLogprob,
        topLogprobsNum: input.topLogprobsNum,
        tokenIdsLogprob: input.tokenIdsLogprob,
      })),
    );
  } catch (error) {
    throw asRequestError(error);
  }
}
