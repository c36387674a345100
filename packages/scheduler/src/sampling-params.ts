/** How one request samples and when it stops; validated once, at submission. */
export interface SamplingParams {
  maxNewTokens: number;
  /** 0 means greedy. */
  temperature: number;
  /** 0 means no top-k limit. */
  topK: number;
  /** 1 means no top-p limit. */
  topP: number;
  /** Per-request seed: the same seed and prompt give the same tokens. */
  seed: bigint;
  /** Token ids that end the request (the stop token is kept in the output). */
  stopTokenIds: readonly number[];
  /** Generate past end-of-sequence tokens. */
  ignoreEos: boolean;
  /** Report each output token's log-probability (the executor computes it). */
  returnLogprob: boolean;
  /**
   * Report the log-probability of every prompt token from this index on (each given the
   * tokens before it; the first prompt token has none); -1: none.
   */
  logprobStartLen: number;
  /** With each output token, these ids' log-probabilities at its position (e.g. "yes", "no"). */
  tokenIdsLogprob: readonly number[];
  /** With each output token, the ids and logprobs of this many most likely tokens (0: none). */
  topLogprobsNum: number;
  /** End-of-sequence and stop tokens are banned until this many tokens are out. */
  minNewTokens: number;
  /** Added to a token's logit before sampling: `[token id, bias]` pairs. */
  logitBias: readonly (readonly [number, number])[];
}

export const DEFAULT_SAMPLING: SamplingParams = {
  maxNewTokens: 128,
  temperature: 0,
  topK: 0,
  topP: 1,
  seed: 0n,
  stopTokenIds: [],
  ignoreEos: false,
  returnLogprob: false,
  logprobStartLen: -1,
  tokenIdsLogprob: [],
  topLogprobsNum: 0,
  minNewTokens: 0,
  logitBias: [],
};

/** Fills defaults and checks ranges; throws a message naming the bad field. */
export function samplingParams(partial: Partial<SamplingParams> = {}): SamplingParams {
  const p = { ...DEFAULT_SAMPLING, ...partial };
  const check = (ok: boolean, message: string) => {
    if (!ok) throw new RangeError(message);
  };
  check(
    Number.isInteger(p.maxNewTokens) && p.maxNewTokens >= 1,
    'maxNewTokens must be an integer >= 1',
  );
  check(Number.isFinite(p.temperature) && p.temperature >= 0, 'temperature must be >= 0');
  check(Number.isInteger(p.topK) && p.topK >= 0, 'topK must be an integer >= 0');
  check(Number.isFinite(p.topP) && p.topP > 0 && p.topP <= 1, 'topP must be in (0, 1]');
  check(
    p.stopTokenIds.every((t) => Number.isInteger(t) && t >= 0),
    'stopTokenIds must be token ids',
  );
  check(
    Number.isInteger(p.minNewTokens) && p.minNewTokens >= 0 && p.minNewTokens <= p.maxNewTokens,
    'minNewTokens must be an integer in [0, maxNewTokens]',
  );
  check(
    p.logitBias.every(([id, bias]) => Number.isInteger(id) && id >= 0 && Number.isFinite(bias)),
    'logitBias must be [token id, finite bias] pairs',
  );
  check(
    Number.isInteger(p.topLogprobsNum) && p.topLogprobsNum >= 0,
    'topLogprobsNum must be an integer >= 0',
  );
  check(
    p.tokenIdsLogprob.every((t) => Number.isInteger(t) && t >= 0),
    'tokenIdsLogprob must be token ids',
  );
  check(
    Number.isInteger(p.logprobStartLen) && p.logprobStartLen >= -1,
    'logprobStartLen must be an integer >= -1',
  );
  return p;
}
