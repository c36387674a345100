/**
 * How one request samples and when it stops: THE shape of sampling inside the engine (its
 * input API takes a partial of it, the rank worker gets it whole by structured clone, the
 * scheduler and the executor read it). Validated once, by `samplingParams()`, at submission.
 * Error messages name fields as the HTTP API does (snake_case), since that is where most
 * requests come from.
 */
export interface SamplingParams {
  /** 0 scores the prompt only: one step runs, and the engine drops its token. */
  maxNewTokens: number;
  /** 0 means greedy. */
  temperature: number;
  /** 0 means no top-k limit (-1, SGLang's "none", is taken as 0). */
  topK: number;
  /** 1 means no top-p limit. */
  topP: number;
  /**
   * Per-request seed: the same seed and prompt give the same tokens. A bigint, so any 64-bit
   * seed is exact (it crosses to the rank worker by structured clone, as a bigint).
   */
  seed: bigint;
  /** Token ids that end the request (the stop token is kept in the output). */
  stopTokenIds: readonly number[];
  /** Generate past end-of-sequence tokens. */
  ignoreEos: boolean;
  /** Strings that end the output (the engine's detokenizer matches them; the rank ignores them). */
  stop: readonly string[];
  /** Leave special tokens out of the text (the engine's detokenizer). */
  skipSpecialTokens: boolean;
  /** Keep the matched stop string at the end of the text. */
  noStopTrim: boolean;
  /**
   * Report each output token's log-probability (the executor computes it): under
   * softmax(logits / temperature) for sampled requests (the distribution drawn from, before any
   * top-k / top-p cut), under softmax(logits) for greedy ones.
   */
  returnLogprob: boolean;
  /**
   * Report the log-probability of every prompt token from this index on (each given the
   * tokens before it; the first prompt token has none); -1: none.
   */
  logprobStartLen: number;
  /** With each output token, these ids' log-probabilities at its position (e.g. "yes", "no"). */
  tokenIdsLogprob: readonly number[];
  /** With each output token, the ids and logprobs of this many most likely tokens (0: none; <= 64 in the engine). */
  topLogprobsNum: number;
  /** End-of-sequence and stop tokens are banned until this many tokens are out. */
  minNewTokens: number;
  /** Added to a token's logit before sampling: `[token id, bias]` pairs. */
  logitBias: readonly (readonly [number, number])[];
  /**
   * Keep only the prompt's last this many tokens (the engine cuts it before it reaches a
   * rank); -1: as many as fit the context beside maxNewTokens; 0: the whole prompt.
   */
  truncatePromptTokens: number;
}

export const DEFAULT_MAX_NEW_TOKENS = 128;

export const DEFAULT_SAMPLING: SamplingParams = {
  maxNewTokens: DEFAULT_MAX_NEW_TOKENS,
  temperature: 0,
  topK: 0,
  topP: 1,
  seed: 0n,
  stopTokenIds: [],
  ignoreEos: false,
  stop: [],
  skipSpecialTokens: true,
  noStopTrim: false,
  returnLogprob: false,
  logprobStartLen: -1,
  tokenIdsLogprob: [],
  topLogprobsNum: 0,
  minNewTokens: 0,
  logitBias: [],
  truncatePromptTokens: 0,
};

/** The seeds a request may give: any 64-bit integer, signed or not (the sampler takes 64 bits). */
export const MIN_SEED = -(2n ** 63n);
export const MAX_SEED = 2n ** 64n - 1n;

/** What the checks depend on beyond the request: the model's vocabulary, the kernels' limits. */
export interface SamplingLimits {
  /** Token ids must be below it; unchecked when absent. */
  vocabSize?: number;
  /** The most logit_bias entries, with the stop tokens min_new_tokens bans, of one request. */
  maxLogitBias?: number;
  /** The most top_logprobs_num one request may ask for. */
  maxTopLogprobs?: number;
}

/**
 * Fills defaults (for fields left out or undefined) and checks every range, the one place
 * that does; throws a RangeError whose message names the bad field.
 */
export function samplingParams(
  partial: Partial<SamplingParams> = {},
  limits: SamplingLimits = {},
): SamplingParams {
  const given = Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined));
  const p: SamplingParams = { ...DEFAULT_SAMPLING, ...given };
  if (p.topK === -1) p.topK = 0;
  const vocab = limits.vocabSize ?? Number.POSITIVE_INFINITY;
  const ids = limits.vocabSize === undefined ? 'token ids' : `token ids in [0, ${vocab})`;
  const isId = (t: unknown) => Number.isInteger(t) && (t as number) >= 0 && (t as number) < vocab;
  const isIds = (v: unknown) => Array.isArray(v) && v.every(isId);
  const check = (ok: boolean, message: string) => {
    if (!ok) throw new RangeError(message);
  };
  for (const [field, value] of [
    ['ignore_eos', p.ignoreEos],
    ['skip_special_tokens', p.skipSpecialTokens],
    ['no_stop_trim', p.noStopTrim],
    ['return_logprob', p.returnLogprob],
  ] as const)
    check(typeof value === 'boolean', `${field} must be a boolean`);
  check(
    Number.isInteger(p.maxNewTokens) && p.maxNewTokens >= 0,
    'max_new_tokens must be an integer >= 0',
  );
  check(Number.isFinite(p.temperature) && p.temperature >= 0, 'temperature must be >= 0');
  check(Number.isInteger(p.topK) && p.topK >= 0, 'top_k must be an integer >= 0 (or -1)');
  check(Number.isFinite(p.topP) && p.topP > 0 && p.topP <= 1, 'top_p must be in (0, 1]');
  check(
    typeof p.seed === 'bigint' && p.seed >= MIN_SEED && p.seed <= MAX_SEED,
    'sampling_seed must be an integer in [-2^63, 2^64)',
  );
  check(isIds(p.stopTokenIds), `stop_token_ids must be ${ids}`);
  check(
    Array.isArray(p.stop) && p.stop.every((s) => typeof s === 'string'),
    'stop must be a string or a list of strings',
  );
  check(
    Number.isInteger(p.minNewTokens) && p.minNewTokens >= 0 && p.minNewTokens <= p.maxNewTokens,
    `min_new_tokens must be an integer in [0, max_new_tokens (${p.maxNewTokens})]`,
  );
  check(
    Array.isArray(p.logitBias) &&
      p.logitBias.every((pair) => Array.isArray(pair) && isId(pair[0]) && Number.isFinite(pair[1])),
    `logit_bias must map ${ids} to finite numbers`,
  );
  const maxBias = limits.maxLogitBias ?? Number.POSITIVE_INFINITY;
  check(p.logitBias.length <= maxBias, `logit_bias takes at most ${maxBias} tokens`);
  const banned = p.minNewTokens > 0 ? new Set(p.stopTokenIds).size : 0;
  check(
    p.logitBias.length + banned <= maxBias,
    `logit_bias and the stop_token_ids that min_new_tokens bans take at most ` +
      `${maxBias} tokens together, got ${p.logitBias.length} + ${banned}`,
  );
  check(
    Number.isInteger(p.logprobStartLen) && p.logprobStartLen >= -1,
    `logprob_start_len must be an integer >= -1, got ${p.logprobStartLen}`,
  );
  check(isIds(p.tokenIdsLogprob), `token_ids_logprob must be ${ids}`);
  const mostTop = Math.min(limits.maxTopLogprobs ?? Number.POSITIVE_INFINITY, vocab);
  check(
    Number.isInteger(p.topLogprobsNum) && p.topLogprobsNum >= 0 && p.topLogprobsNum <= mostTop,
    Number.isFinite(mostTop)
      ? `top_logprobs_num must be an integer in [0, ${mostTop}]`
      : 'top_logprobs_num must be an integer >= 0',
  );
  check(
    Number.isInteger(p.truncatePromptTokens) && p.truncatePromptTokens >= -1,
    'truncate_prompt_tokens must be an integer >= -1',
  );
  return p;
}
