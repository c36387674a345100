import { DEFAULT_MAX_NEW_TOKENS } from '@ts/scheduler';
import type { Tokenizer } from '../tokenizer/tokenizer.js';

/** Texts up to this many UTF-16 units are tokenized on the main thread; longer ones off it. */
export const INLINE_ENCODE_CHARS = 32 * 1024;
/** The most stop strings a request may give, and the longest one (UTF-16 units). */
export const MAX_STOP_STRINGS = 32;
export const MAX_STOP_LENGTH = 512;
/**
 * The most entries a reply may hold: per output token its id, and with return_logprob its
 * logprob, its top_logprobs_num best and its token_ids_logprob entries. 2^22 entries are about
 * 150 MB of JSON; far more does not fit in one string (`Invalid string length`).
 */
export const MAX_REPLY_ENTRIES = 4 * 1024 * 1024;
/** The default max_new_tokens (SGLang's), declared with the sampling defaults. */
export { DEFAULT_MAX_NEW_TOKENS };

/** A request refused as a 400; its message says which field and why. */
export class InvalidInputError extends Error {
  readonly statusCode: number = 400;
}

/** A prompt too long to tokenize for this context: a 413, answered without tokenizing. */
export class PromptTooLongError extends InvalidInputError {
  override readonly statusCode = 413;
}

/**
 * Refuses (413) a text that cannot fit `maxContext` tokens whatever it encodes to: one longer
 * than maxContext times the most text one token stands for. Exact: a text that fits is never
 * refused here, and a tokenizer without such a bound refuses nothing.
 */
export function checkTextFits(
  text: string,
  tokenizer: Tokenizer,
  maxContext: number,
  field = 'text',
): void {
  const refusal = textTooLong(field, text.length, maxContext, tokenizer.maxTextPerToken);
  if (refusal) throw refusal;
}

/**
 * The refusal (413) of a text of `length` UTF-16 units under `field`, or null when it may fit
 * `maxContext` tokens of at most `perToken` units each (no bound when `perToken` is undefined).
 */
export function textTooLong(
  field: string,
  length: number,
  maxContext: number,
  perToken: number | undefined,
): PromptTooLongError | null {
  const most = maxContext * (perToken ?? Number.POSITIVE_INFINITY);
  if (length <= most) return null;
  return new PromptTooLongError(
    `${field}: ${length} characters cannot fit the context of ${maxContext} tokens (a token of this tokenizer stands for at most ${perToken} characters, so at most ${most} fit)`,
  );
}

/** The stop strings of a request, checked: non-empty strings, not too many or too long. */
export function checkStops(stop: unknown): string[] {
  const stops = stop === undefined ? [] : Array.isArray(stop) ? stop : [stop];
  if (!stops.every((x) => typeof x === 'string' && x.length > 0))
    throw new InvalidInputError('stop must be a non-empty string or a list of them');
  if (stops.length > MAX_STOP_STRINGS)
    throw new InvalidInputError(`stop: at most ${MAX_STOP_STRINGS} strings, got ${stops.length}`);
  const long = stops.findIndex((x: string) => x.length > MAX_STOP_LENGTH);
  if (long >= 0)
    throw new InvalidInputError(
      `stop: each string at most ${MAX_STOP_LENGTH} characters; string ${long} has ${stops[long].length}`,
    );
  return stops;
}

/** What a request's reply holds per output token, as `replyEntries` counts it. */
export interface ReplyShape {
  maxNewTokens?: number | undefined;
  returnLogprob?: boolean | undefined;
  topLogprobsNum?: number | undefined;
  tokenIdsLogprob?: readonly number[] | undefined;
}

/**
 * The entries a request's reply may hold: max_new_tokens (at least 1: a scored prompt samples
 * one) times, per token, its id plus with return_logprob its logprob, top_logprobs_num best and
 * token_ids_logprob entries.
 */
export function replyEntries(shape: ReplyShape): number {
  const tokens = Math.max(1, shape.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS);
  const logprobs = shape.returnLogprob
    ? 1 + (shape.topLogprobsNum ?? 0) + (shape.tokenIdsLogprob?.length ?? 0)
    : 0;
  return tokens * (1 + logprobs);
}

/** Refuses (400) requests whose replies together may exceed MAX_REPLY_ENTRIES, naming the fields. */
export function checkReplySize(shapes: readonly ReplyShape[]): void {
  const entries = shapes.reduce((sum, shape) => sum + replyEntries(shape), 0);
  if (entries <= MAX_REPLY_ENTRIES) return;
  throw new InvalidInputError(
    `the reply would hold up to ${entries} entries (n × max_new_tokens × (1 + return_logprob × (1 + top_logprobs_num + len(token_ids_logprob))), over every prompt), more than ${MAX_REPLY_ENTRIES}: lower n, max_new_tokens or top_logprobs_num`,
  );
}

/**
 * The refusal (400) of a request that can never fit a rank's whole KV pool, or null: the
 * prompt and max_new_tokens (at least 1) take ceil((prompt + max_new_tokens) / pageSize) pages.
 */
export function kvPoolRefusal(
  request: { inputIds: readonly number[]; maxNewTokens: number },
  pageSize: number,
  rank: number,
  poolPages: number,
): InvalidInputError | null {
  const prompt = request.inputIds.length;
  const pages = Math.ceil((prompt + Math.max(1, request.maxNewTokens)) / pageSize);
  if (pages <= poolPages) return null;
  return new InvalidInputError(
    `prompt (${prompt} tokens) + max_new_tokens (${request.maxNewTokens}) need ${pages} KV pages of ${pageSize} tokens, more than rank ${rank}'s whole KV pool (${poolPages} pages, ${poolPages * pageSize} tokens): shorten the prompt or max_new_tokens, or give the KV cache more memory`,
  );
}
