import { randomInt } from 'node:crypto';
import type { GenerateInput } from '../engine-api.js';
import { MAX_REQUEST_LOGIT_BIAS, MAX_TOP_LOGPROBS } from '../model/workspace.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import {
  checkReplySize,
  checkStops,
  checkTextFits,
  DEFAULT_MAX_NEW_TOKENS,
  InvalidInputError,
} from './input-limits.js';
import type { PromptEncoder } from './prompt-encoder.js';
import type { ReadyInfo, WireSampling } from './worker-protocol.js';

export { InvalidInputError } from './input-limits.js';

export interface ValidInput {
  /** Shared by requests of the same long text in flight: read only. */
  inputIds: number[];
  stops: string[];
  skipSpecialTokens: boolean;
  noStopTrim: boolean;
  maxNewTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
  stopTokenIds: number[];
  ignoreEos: boolean;
  returnLogprob: boolean;
  returnTextInLogprobs: boolean;
  logprobStartLen: number;
  tokenIdsLogprob: number[];
  topLogprobsNum: number;
  minNewTokens: number;
  logitBias: [number, number][];
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
  const s = input.samplingParams ?? {};
  const maxNewTokens = s.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS;
  const checks: [boolean, string][] = [
    [Number.isInteger(maxNewTokens) && maxNewTokens >= 0, 'max_new_tokens must be an integer >= 0'],
    [
      s.temperature === undefined || (Number.isFinite(s.temperature) && s.temperature >= 0),
      'temperature must be >= 0',
    ],
    [s.topP === undefined || (s.topP > 0 && s.topP <= 1), 'top_p must be in (0, 1]'],
    [
      s.topK === undefined || s.topK === -1 || (Number.isInteger(s.topK) && s.topK >= 0),
      'top_k must be an integer >= 0 (or -1)',
    ],
    [s.seed === undefined || Number.isSafeInteger(s.seed), 'sampling_seed must be an integer'],
    [
      s.stopTokenIds === undefined ||
        (Array.isArray(s.stopTokenIds) &&
          s.stopTokenIds.every((t) => Number.isInteger(t) && t >= 0 && t < vocabSize)),
      `stop_token_ids must be token ids in [0, ${vocabSize})`,
    ],
  ];
  for (const [ok, message] of checks) if (!ok) fail(message);
  const stops = checkStops(s.stop);
  if (stops.length > 0 && !tokenizer) fail('stop strings need a tokenizer: use stop_token_ids');
  if (input.returnLogprob !== undefined && typeof input.returnLogprob !== 'boolean')
    fail('return_logprob must be a boolean');
  if (input.returnTextInLogprobs !== undefined && typeof input.returnTextInLogprobs !== 'boolean')
    fail('return_text_in_logprobs must be a boolean');
  if (input.returnTextInLogprobs && !tokenizer)
    fail('return_text_in_logprobs needs a tokenizer: this model has none');
  const start = input.logprobStartLen ?? -1;
  if (!(Number.isInteger(start) && start >= -1))
    fail(`logprob_start_len must be an integer >= -1, got ${start}`);
  if (start >= 0 && !input.returnLogprob) fail('logprob_start_len needs return_logprob');
  if (start >= 0 && maxInputLogprobRows === 0)
    fail('input-token logprobs are off on this server (--max-input-logprob-rows 0)');
  const chosen = input.tokenIdsLogprob ?? [];
  if (!Array.isArray(chosen) || chosen.some((t) => !Number.isInteger(t) || t < 0 || t >= vocabSize))
    fail(`token_ids_logprob must be token ids in [0, ${vocabSize})`);
  if (chosen.length > 0 && !input.returnLogprob) fail('token_ids_logprob needs return_logprob');
  const top = input.topLogprobsNum ?? 0;
  const mostTop = Math.min(MAX_TOP_LOGPROBS, vocabSize);
  if (!(Number.isInteger(top) && top >= 0 && top <= mostTop))
    fail(`top_logprobs_num must be an integer in [0, ${mostTop}]`);
  if (top > 0 && !input.returnLogprob) fail('top_logprobs_num needs return_logprob');
  checkReplySize([
    {
      maxNewTokens,
      returnLogprob: input.returnLogprob,
      topLogprobsNum: top,
      tokenIdsLogprob: chosen,
    },
  ]);
  const minNewTokens = s.minNewTokens ?? 0;
  if (!(Number.isInteger(minNewTokens) && minNewTokens >= 0 && minNewTokens <= maxNewTokens))
    fail(`min_new_tokens must be an integer in [0, max_new_tokens (${maxNewTokens})]`);
  const logitBias = Object.entries(s.logitBias ?? {}).map(([key, bias]): [number, number] => [
    Number(key),
    bias,
  ]);
  if (logitBias.length > MAX_REQUEST_LOGIT_BIAS)
    fail(`logit_bias takes at most ${MAX_REQUEST_LOGIT_BIAS} tokens`);
  const banned = minNewTokens > 0 ? new Set(s.stopTokenIds ?? []).size : 0;
  if (logitBias.length + banned > MAX_REQUEST_LOGIT_BIAS)
    fail(
      `logit_bias and the stop_token_ids that min_new_tokens bans take at most ` +
        `${MAX_REQUEST_LOGIT_BIAS} tokens together, got ${logitBias.length} + ${banned}`,
    );
  for (const [id, bias] of logitBias) {
    if (!(Number.isInteger(id) && id >= 0 && id < vocabSize) || !Number.isFinite(bias))
      fail(`logit_bias must map token ids in [0, ${vocabSize}) to finite numbers`);
  }
  const rank = input.dataParallelRank;
  if (rank !== undefined && !(Number.isInteger(rank) && rank >= 0 && rank < dpSize))
    fail(`data_parallel_rank must be an integer in [0, ${dpSize}), got ${rank}`);
  const inputIds = await promptIds(input, encoder, vocabSize, maxContext, maxNewTokens);
  if (start >= inputIds.length)
    fail(
      `logprob_start_len must be an integer in [-1, ${inputIds.length}) (the prompt's length), got ${start}`,
    );
  return {
    inputIds,
    stops,
    skipSpecialTokens: s.skipSpecialTokens ?? true,
    noStopTrim: s.noStopTrim ?? false,
    maxNewTokens,
    temperature: s.temperature ?? 0,
    topK: s.topK === undefined || s.topK === -1 ? 0 : s.topK,
    topP: s.topP ?? 1,
    // Without a seed each request draws its own: the same prompt sent n times (GRPO's group)
    // must give n different samples; a given seed makes a request repeatable.
    seed: s.seed ?? randomInt(0, 2 ** 48 - 1),
    stopTokenIds: s.stopTokenIds ?? [],
    ignoreEos: s.ignoreEos ?? false,
    returnLogprob: input.returnLogprob ?? false,
    returnTextInLogprobs: (input.returnLogprob ?? false) && (input.returnTextInLogprobs ?? false),
    logprobStartLen: start,
    tokenIdsLogprob: chosen,
    topLogprobsNum: top,
    minNewTokens,
    logitBias,
  };
}

/** The prompt's token ids: input_ids checked, or the text (if it can fit) tokenized. */
async function promptIds(
  input: GenerateInput,
  encoder: PromptEncoder | null,
  vocabSize: number,
  maxContext: number,
  maxNewTokens: number,
): Promise<number[]> {
  let inputIds: number[];
  if (input.text !== undefined) {
    if (typeof input.text !== 'string') fail('text must be a string');
    if (!encoder) fail('this model has no tokenizer: send input_ids');
    checkTextFits(input.text, encoder.tokenizer, maxContext);
    inputIds = await encoder.encode(input.text);
  } else {
    inputIds = input.inputIds as number[];
    if (!Array.isArray(inputIds)) fail('input_ids must be a list of token ids');
  }
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

/** The sampling a worker gets; the tokenizer's end tokens (e.g. <|eot_id|>) join the model's EOS. */
export function toWireSampling(
  valid: ValidInput,
  tokenizer: Tokenizer | null,
  info: ReadyInfo | null,
): WireSampling {
  const eos = valid.ignoreEos
    ? []
    : (tokenizer?.eosTokenIds ?? []).filter((t) => !info?.eosTokenIds.includes(t));
  return {
    // max_new_tokens 0 (scoring a prompt): the rank samples one token, which the engine drops.
    maxNewTokens: Math.max(1, valid.maxNewTokens),
    temperature: valid.temperature,
    topK: valid.topK,
    topP: valid.topP,
    seed: String(valid.seed),
    stopTokenIds: [...new Set([...valid.stopTokenIds, ...eos])],
    ignoreEos: valid.ignoreEos,
    returnLogprob: valid.returnLogprob,
    logprobStartLen: valid.logprobStartLen,
    tokenIdsLogprob: valid.tokenIdsLogprob,
    topLogprobsNum: valid.topLogprobsNum,
    minNewTokens: valid.minNewTokens,
    logitBias: valid.logitBias,
  };
}
