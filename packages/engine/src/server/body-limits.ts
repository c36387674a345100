import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { ModelInfo } from '../engine-api.js';
import type { PromptBound } from './prompt-bound.js';
import { MAX_GENERATIONS } from './sampling.js';

/** The most JSON bytes one UTF-16 unit of a string takes: `\u00e9` (Python's json.dumps). */
const JSON_BYTES_PER_UNIT = 6;
/** A prompt's fields beside its text in a batch: its rid and sampling params. */
const PER_PROMPT_BYTES = 4 * 1024;
/** A chat message's JSON beside its text; each message adds at least one token to the prompt. */
const PER_MESSAGE_BYTES = 64;
/** A request's fields beside its prompts (stop strings, sampling fields), plus slack. */
const REQUEST_FIELD_BYTES = 1024 * 1024;
/** A logit_bias or token_ids_logprob over the whole vocabulary: bytes per entry. */
const PER_VOCAB_ENTRY_BYTES = 32;

/** What a route's JSON body may be: its most bytes, and the bound of its prompt text (if any). */
export interface BodyRule {
  bodyLimit: number;
  prompt: PromptBound | null;
}

/**
 * The JSON body rules of the routes that take prompts, from what a valid request can need: a
 * prompt is at most maxContext tokens, as text (each token at most `maxTextPerToken` units, each
 * unit at most 6 bytes of JSON) or as ids (the vocabulary's longest id and a separator each); a
 * batch (/generate, /v1/completions) holds at most MAX_GENERATIONS prompts. Each limit is at
 * most `cap`, the server's bodyLimit; without a tokenizer bound every limit is `cap`.
 */
export function promptRouteRules(info: ModelInfo, cap: number): Map<string, BodyRule> {
  const { maxContext: tokens, maxTextPerToken: perToken, vocabSize } = info;
  const text = tokens * (perToken ?? Number.POSITIVE_INFINITY) * JSON_BYTES_PER_UNIT;
  const ids = tokens * (String(Math.max(0, vocabSize - 1)).length + 2);
  const prompt = Math.max(text, ids);
  const request = REQUEST_FIELD_BYTES + vocabSize * PER_VOCAB_ENTRY_BYTES;
  const batch = MAX_GENERATIONS * (prompt + PER_PROMPT_BYTES) + request;
  const rule = (bytes: number, fields: readonly string[]): BodyRule => ({
    bodyLimit: Math.min(cap, Math.ceil(bytes)),
    prompt: perToken === undefined ? null : { fields, maxContext: tokens, perToken },
  });
  return new Map([
    ['/generate', rule(batch, ['text'])],
    ['/v1/completions', rule(batch, ['prompt'])],
    ['/v1/chat/completions', rule(prompt + tokens * PER_MESSAGE_BYTES + request, ['messages'])],
    ['/tokenize', rule(text + request, ['prompt', 'text'])],
  ]);
}

/**
 * Gives each route of `rules` its bodyLimit as it is added (`request.routeOptions.bodyLimit`,
 * which the JSON body reader and `declaredTooLarge` hold bodies to). Call before the routes are
 * added.
 */
export function registerBodyLimits(app: FastifyInstance, rules: ReadonlyMap<string, BodyRule>) {
  app.addHook('onRoute', (route) => {
    const rule = rules.get(route.url);
    if (rule && route.bodyLimit === undefined) route.bodyLimit = rule.bodyLimit;
  });
}

/**
 * The refusal message of a body whose Content-Length passes `limit`, or null: such a body is
 * answered before any of it is read.
 */
export function declaredTooLarge(
  contentLength: string | undefined,
  limit: number,
  route: string,
): string | null {
  const declared = Number(contentLength);
  if (!(declared > limit)) return null;
  return `body: ${declared} bytes, more than the ${limit} bytes ${route} takes`;
}

/** How long the rest of a body refused before it was read may come in before its connection closes. */
export const UNREAD_BODY_LINGER_MS = 5_000;

/**
 * Lets a client still sending a body that was refused before it was read get the refusal:
 * the rest is read and dropped (Node does so once the reply ends, keeping none of it) instead
 * of the connection closing at once, which would reset it while the client writes and lose
 * the reply (EPIPE). A client still sending after `ms` has its connection closed.
 */
export function lingerOnUnreadBody(request: IncomingMessage, ms = UNREAD_BODY_LINGER_MS): void {
  const timer = setTimeout(() => {
    if (!request.complete) request.socket.destroy();
  }, ms);
  timer.unref();
  request.once('close', () => clearTimeout(timer));
}
