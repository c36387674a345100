import { randomInt } from 'node:crypto';
import { type SamplingParams, samplingParams } from '@ts/scheduler';
import type { GenerateInput } from '../engine-api.js';
import { MAX_REQUEST_LOGIT_BIAS, MAX_TOP_LOGPROBS } from '../model/workspace.js';
import type { ReadyInfo } from '../protocol/worker-protocol.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { checkReplySize, checkStops, checkTextFits, InvalidInputError } from './input-limits.js';
import type { PromptEncoder } from './prompt-encoder.js';

export { InvalidInputError } from './input-limits.js';

export interface ValidInput {
  /** Shared by requests of the same long text in flight: read only. */
  inputIds: number[];
  /** Checked by `samplingParams()` (the one range check), defaults filled, a seed drawn. */
  sampling: SamplingParams;
  returnTextInLogprobs: boolean;
}

function fail(message: string): never {
  throw new InvalidInputError(message);
}

/**
 * Checks a generate request and turns it into token ids; rejects with InvalidInputError (a 400,
 * a 413 for a text too long to tokenize). Everything but the prompt is checked before the
 * prompt is tokenized, and a text that cannot fit the context is refused without tokenizing.
 */
export async function validateInput(
  input: GenerateInput,
  encoder: PromptEncoder | null,
  vocabSize: number,
  maxContext: number,
  dpSize = 1,
  maxInputLogprobRows = 0,
): Promise<ValidInput> {
  if (typeof input !== 'object' || input === null) fail('the request must be an object');
  const hasText = input.text !== undefined;
  if (hasText === (input.inputIds !== undefined)) fail('give exactly one of text and input_ids');
  const tokenizer = encoder?.tokenizer ?? null;
  const sampling = checkSampling(input, vocabSize);
  if (sampling.stop.length > 0 && !tokenizer)
    fail('stop strings need a tokenizer: use stop_token_ids');
  if (input.returnTextInLogprobs !== undefined && typeof input.returnTextInLogprobs !== 'boolean')
    fail('return_text_in_logprobs must be a boolean');
  if (input.returnTextInLogprobs && !tokenizer)
    fail('return_text_in_logprobs needs a tokenizer: this model has none');
  // SGLang's rule: the logprob fields only with return_logprob (the rank would serve them anyway).
  const start = sampling.logprobStartLen;
  if (!sampling.returnLogprob) {
    if (start >= 0) fail('logprob_start_len needs return_logprob');
    if (sampling.tokenIdsLogprob.length > 0) fail('token_ids_logprob needs return_logprob');
    if (sampling.topLogprobsNum > 0) fail('top_logprobs_num needs return_logprob');
  }
  if (start >= 0 && maxInputLogprobRows === 0)
    fail('input-token logprobs are off on this server (--max-input-logprob-rows 0)');
  checkReplySize([sampling]);
  const rank = input.dataParallelRank;
  if (rank !== undefined && !(Number.isInteger(rank) && rank >= 0 && rank < dpSize))
    fail(`data_parallel_rank must be an integer in [0, ${dpSize}), got ${rank}`);
  const inputIds = await promptIds(input, encoder, vocabSize, maxContext, sampling);
  if (start >= inputIds.length)
    fail(
      `logprob_start_len must be an integer in [-1, ${inputIds.length}) (the prompt's length), got ${start}`,
    );
  return {
    inputIds,
    sampling,
    returnTextInLogprobs: sampling.returnLogprob && (input.returnTextInLogprobs ?? false),
  };
}

/**
 * The request's sampling, whole: the forms a caller may give (a number seed, a record of
 * logit biases, one stop string) made the internal ones, then `samplingParams()` checks it.
 */
function checkSampling(input: GenerateInput, vocabSize: number): SamplingParams {
  const { seed, logitBias, stop, ...rest } = input.samplingParams ?? {};
  if (typeof seed === 'number' && !Number.isSafeInteger(seed))
    fail('sampling_seed must be an integer');
  const pairs =
    logitBias === undefined || Array.isArray(logitBias)
      ? logitBias
      : Object.entries(logitBias).map(([id, bias]): [number, number] => [Number(id), bias]);
  try {
    return samplingParams(
      {
        ...rest,
        // Without a seed each request draws its own: the same prompt sent n times (GRPO's
        // group) must give n different samples; a given seed makes a request repeatable.
        seed: typeof seed === 'number' ? BigInt(seed) : (seed ?? BigInt(randomInt(0, 2 ** 48 - 1))),
        ...(pairs !== undefined ? { logitBias: pairs as SamplingParams['logitBias'] } : {}),
        stop: checkStops(stop),
        ...(input.returnLogprob !== undefined ? { returnLogprob: input.returnLogprob } : {}),
        ...(input.logprobStartLen !== undefined ? { logprobStartLen: input.logprobStartLen } : {}),
        ...(input.tokenIdsLogprob !== undefined ? { tokenIdsLogprob: input.tokenIdsLogprob } : {}),
        ...(input.topLogprobsNum !== undefined ? { topLogprobsNum: input.topLogprobsNum } : {}),
      },
      { vocabSize, maxLogitBias: MAX_REQUEST_LOGIT_BIAS, maxTopLogprobs: MAX_TOP_LOGPROBS },
    );
  } catch (error) {
    if (error instanceof RangeError) fail(error.message);
    throw error;
  }
}

/** The prompt's token ids: input_ids checked, or the text (if it can fit) tokenized. */
async function promptIds(
  input: GenerateInput,
  encoder: PromptEncoder | null,
  vocabSize: number,
  maxContext: number,
  { maxNewTokens, truncatePromptTokens }: SamplingParams,
): Promise<number[]> {
  let inputIds: number[];
  if (input.text !== undefined) {
    if (typeof input.text !== 'string') fail('text must be a string');
    if (!encoder) fail('this model has no tokenizer: send input_ids');
    // Longer than any prompt can be even before a cut (as the HTTP body parser refuses it too).
    checkTextFits(input.text, encoder.tokenizer, maxContext);
    inputIds = await encoder.encode(input.text);
  } else {
    inputIds = input.inputIds as number[];
    if (!Array.isArray(inputIds)) fail('input_ids must be a list of token ids');
  }
  const keep =
    truncatePromptTokens === -1 ? maxContext - Math.max(1, maxNewTokens) : truncatePromptTokens;
  if (keep > 0 && inputIds.length > keep) inputIds = inputIds.slice(-keep);
  if (inputIds.length === 0) fail('the prompt is empty');
  // max_new_tokens 0 (a scored prompt) still runs one step, which needs a position.
  if (inputIds.length + Math.max(1, maxNewTokens) > maxContext) {
    fail(
      `prompt (${inputIds.length} tokens) + max_new_tokens (${maxNewTokens}${maxNewTokens === 0 ? ', which still runs one step' : ''}) exceeds the context length ${maxContext}`,
    );
  }
  if (input.text === undefined) {
    const bad = inputIds.find((t) => !Number.isInteger(t) || t < 0 || t >= vocabSize);
    if (bad !== undefined) fail(`input_ids holds ${bad}, outside the vocabulary [0, ${vocabSize})`);
  }
  return inputIds;
}

/** The sampling a rank gets; the tokenizer's end tokens (e.g. <|eot_id|>) join the model's EOS. */
export function rankSampling(
  sampling: SamplingParams,
  tokenizer: Tokenizer | null,
  info: ReadyInfo | null,
): SamplingParams {
  if (sampling.ignoreEos) return sampling;
  const eos = (tokenizer?.eosTokenIds ?? []).filter((t) => !info?.eosTokenIds.includes(t));
  if (eos.every((t) => sampling.stopTokenIds.includes(t))) return sampling;
  return { ...sampling, stopTokenIds: [...new Set([...sampling.stopTokenIds, ...eos])] };
}
