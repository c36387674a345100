import {
  type GenerateReply,
  MAX_SAMPLES,
  type samplingParamsSchema,
  servedSamplingShape,
} from '@ts/client';
import type * as z from 'zod';
import { checkReplySize } from '../engine/input-limits.js';
import type { GenerateInput, GenerateOutput, SamplingInput } from '../engine-api.js';
import { asRequestError, RequestError } from './errors.js';

/** The wire's sampling schemas are declared once, in @ts/client (the server parses with them). */
export { MAX_SAMPLES, onlyOff, samplingParamsSchema, stopSchema, tokenId } from '@ts/client';

/** The most generations one HTTP request may ask for: its prompts × n. */
export const MAX_GENERATIONS = 16 * MAX_SAMPLES;

export type SamplingParamsBody = z.output<typeof samplingParamsSchema>;

/** snake_case -> camelCase, in types: `max_new_tokens` -> `maxNewTokens`. */
type Camel<S extends string> = S extends `${infer H}_${infer T}`
  ? `${H}${Capitalize<Camel<T>>}`
  : S;

/** The served wire fields under their engine names: camelCase, but `sampling_seed` is `seed`. */
type EngineName<K extends string> = K extends 'sampling_seed' ? 'seed' : Camel<K>;

type ServedKey = keyof typeof servedSamplingShape;

// A served wire field the engine has no field for fails to compile here, naming the field.
const everyServedFieldIsTaken: Exclude<EngineName<ServedKey>, keyof SamplingInput> extends never
  ? true
  : Exclude<EngineName<ServedKey>, keyof SamplingInput> = true;
void everyServedFieldIsTaken;

function engineName(key: string): string {
  return key === 'sampling_seed'
    ? 'seed'
    : key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * The engine's sampling input of the served wire fields given (the one snake -> camel
 * conversion, by name): the unserved ones are off by then, and `n` is the caller's.
 */
export function toSamplingInput(
  p: Partial<Pick<SamplingParamsBody, ServedKey>> | null | undefined,
): SamplingInput {
  if (!p) return {};
  const input: Record<string, unknown> = {};
  for (const key of Object.keys(servedSamplingShape) as ServedKey[]) {
    const value = p[key];
    if (value != null) input[engineName(key)] = value;
  }
  return input as {
    [K in ServedKey as EngineName<K>]?: NonNullable<SamplingParamsBody[K]>;
  } satisfies SamplingInput;
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
    samplingParams: {
      ...input.samplingParams,
      ...(seed !== undefined ? { seed: nthSeed(seed, j) } : {}),
    },
  }));
}

/** Seed + j, exact: a bigint once a number would pass 2^53 (or when the seed is one). */
function nthSeed(seed: number | bigint, j: number): number | bigint {
  if (typeof seed === 'bigint') return seed + BigInt(j);
  // A seed that is no safe integer stays as given, for validateInput to refuse.
  if (!Number.isSafeInteger(seed) || Number.isSafeInteger(seed + j)) return seed + j;
  return BigInt(seed) + BigInt(j);
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
