/**
 * The sampling fields of the engine's HTTP API, declared once: these schemas are what the
 * server parses bodies with, and the wire types (`SamplingParams`, `OpenAISamplingRequest`)
 * are inferred from them. They check the shape only (types, integers, the wire's own limits:
 * `n`, OpenAI's ranges); the ranges of sampling itself (top_p in (0, 1], token ids in the
 * vocabulary, ...) are the engine's to check, once, where it takes a request.
 */
import * as z from 'zod';

/** The most samples one prompt may ask for (`n`). */
export const MAX_SAMPLES = 1024;
/** The most alternatives per position the OpenAI API lets a request ask for. */
export const MAX_OPENAI_TOP_LOGPROBS = 20;
/** OpenAI's bounds of `temperature` and of each `logit_bias` value. */
export const MAX_OPENAI_TEMPERATURE = 2;
export const MAX_OPENAI_LOGIT_BIAS = 100;

export const tokenId = z.number().int().nonnegative();
export const stopSchema = z.union([z.string(), z.array(z.string())], {
  error: 'must be a string or a list of strings',
});

/**
 * A field that may be left out, null, or `off` (for a batch, a list of `off`), and nothing
 * else: how a control the engine does not implement is taken, so that setting it is refused
 * rather than silently ignored.
 */
export function onlyOff<const Off extends number | boolean | null>(off: Off, message: string) {
  const isOff = (v: unknown) => v === off || v === null;
  return z
    .custom<Off | null | (Off | null)[]>((v) => isOff(v) || (Array.isArray(v) && v.every(isOff)), {
      message,
    })
    .optional();
}

/**
 * The sampling fields the engine serves, as SGLang names them. Each but `sampling_seed`
 * (the engine's `seed`) is the engine's `SamplingParams` field of the camelCase name, and is
 * converted by that rule alone: a field added here and there needs no other conversion.
 * Nulls (Python's None) mean omitted.
 */
export const servedSamplingShape = {
  max_new_tokens: z.number().int().nullish(),
  temperature: z.number().nullish(),
  top_p: z.number().nullish(),
  /** -1 (or 0): no top-k limit. */
  top_k: z.number().int().nullish(),
  /** Strings that end the output; the matched string is not part of the text. */
  stop: stopSchema.nullish(),
  stop_token_ids: z.array(z.number().int()).nullish(),
  ignore_eos: z.boolean().nullish(),
  skip_special_tokens: z.boolean().nullish(),
  /** Keep the matched stop string at the end of the text. */
  no_stop_trim: z.boolean().nullish(),
  /** End-of-sequence and stop tokens are banned until this many tokens are out. */
  min_new_tokens: z.number().int().nullish(),
  /** Token id (as a string) -> bias added to its logit before sampling (at most 300). */
  logit_bias: z.record(z.string(), z.number()).nullish(),
  /**
   * Per-request seed for sampled (temperature > 0) generation: the same seed and prompt give
   * the same tokens. Without one each request draws its own, so a repeated prompt differs.
   */
  sampling_seed: z.number().int().nullish(),
  /**
   * vLLM's: keep only the prompt's last this many tokens (-1: as many as fit the context
   * beside max_new_tokens); 0 or left out: the whole prompt. `prompt_tokens` counts those kept.
   */
  truncate_prompt_tokens: z.number().int().nullish(),
};

/** SGLang's sampling controls the engine does not implement: taken at their neutral values only. */
export const unservedSamplingShape = {
  min_p: onlyOff(0, 'min_p is not supported: leave it out or 0'),
  repetition_penalty: onlyOff(1, 'repetition_penalty is not supported: leave it out or 1'),
  frequency_penalty: onlyOff(0, 'frequency_penalty is not supported: leave it out or 0'),
  presence_penalty: onlyOff(0, 'presence_penalty is not supported: leave it out or 0'),
};

/** SGLang's `sampling_params` of `/generate`; unknown keys are dropped. */
export const samplingParamsSchema = z.object({
  ...servedSamplingShape,
  /**
   * Samples of each prompt (default 1), replied prompt by prompt with rids `<rid>-<j>`; seeds
   * `sampling_seed + j` where a seed is given. With n > 1 the reply is a list: use
   * `generateBatch` / `generateBatchStream`.
   */
  n: z.number().int().min(1).max(MAX_SAMPLES).nullish(),
  ...unservedSamplingShape,
  structural_tag: onlyOff(null, 'structural_tag (constrained decoding) is not supported'),
  json_schema: onlyOff(null, 'json_schema (constrained decoding) is not supported'),
  regex: onlyOff(null, 'regex (constrained decoding) is not supported'),
  ebnf: onlyOff(null, 'ebnf (constrained decoding) is not supported'),
});

/**
 * The SGLang sampling fields the OpenAI routes take too, under the same names (SGLang's and
 * vLLM's extensions of OpenAI's API).
 */
export const openAIExtensionShape = {
  top_k: servedSamplingShape.top_k,
  /** Generate max_tokens even past the end-of-sequence token. */
  ignore_eos: servedSamplingShape.ignore_eos,
  truncate_prompt_tokens: servedSamplingShape.truncate_prompt_tokens,
};

/** Fields both `/v1/completions` and `/v1/chat/completions` take; unknown keys are dropped. */
export const openAISamplingShape = {
  model: z.string().nullish(),
  max_tokens: z.number().int().nonnegative().nullish(),
  temperature: z.number().min(0).max(MAX_OPENAI_TEMPERATURE).nullish(),
  top_p: servedSamplingShape.top_p,
  stop: stopSchema.nullish(),
  seed: z.number().int().nullish(),
  /** Choices to sample (default 1), each with its own seed (`seed + j` where a seed is given). */
  n: z.number().int().min(1).max(MAX_SAMPLES).nullish(),
  stream: z.boolean().nullish(),
  /** A last chunk with empty `choices` and the `usage`; other chunks carry `usage: null`. */
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
  /** Token id (as a string) -> bias in [-100, 100] added to its logit before sampling. */
  logit_bias: z
    .record(z.string(), z.number().min(-MAX_OPENAI_LOGIT_BIAS).max(MAX_OPENAI_LOGIT_BIAS))
    .nullish(),
  ...openAIExtensionShape,
  frequency_penalty: unservedSamplingShape.frequency_penalty,
  presence_penalty: unservedSamplingShape.presence_penalty,
  repetition_penalty: unservedSamplingShape.repetition_penalty,
  min_p: unservedSamplingShape.min_p,
};
