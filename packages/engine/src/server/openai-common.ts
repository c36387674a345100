import { randomUUID } from 'node:crypto';
import type { OpenAIFinishReason, OpenAIUsage } from '@ts/client';
import type { FastifyReply } from 'fastify';
import * as z from 'zod';
import type { GenerateChunk, GenerateInput, GenerateMeta, SamplingInput } from '../engine-api.js';
import type { RouteContext } from './context.js';
import { asRequestError } from './errors.js';
import { compact, onlyOff, stopSchema } from './sampling.js';
import { onClientGone, peek, sendSse } from './sse.js';

/** Fields both `/v1/completions` and `/v1/chat/completions` take; unknown keys are dropped. */
export const openAISamplingShape = {
  model: z.string().nullish(),
  max_tokens: z.number().int().nonnegative().nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).lte(1).nullish(),
  top_k: z.number().int().nullish(),
  stop: stopSchema.nullish(),
  seed: z.number().int().nullish(),
  n: z.literal(1, { error: 'only n=1 is supported' }).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
  // Not implemented: served at their neutral values only, refused otherwise.
  frequency_penalty: onlyOff(0, 'frequency_penalty is not supported: leave it out or 0'),
  presence_penalty: onlyOff(0, 'presence_penalty is not supported: leave it out or 0'),
  repetition_penalty: onlyOff(1, 'repetition_penalty is not supported: leave it out or 1'),
  min_p: onlyOff(0, 'min_p is not supported: leave it out or 0'),
  logit_bias: z
    .record(z.string(), z.number())
    .refine((bias) => Object.keys(bias).length === 0, { message: 'logit_bias is not supported' })
    .nullish(),
};

/** `[logprob, token id, text]`, as `GenerateMeta.outputTokenLogprobs` holds them. */
export type LogprobEntry = [number, number, string | null];

type OpenAISampling = z.infer<z.ZodObject<typeof openAISamplingShape>>;

/** OpenAI's defaults (temperature 1, top_p 1), unlike `/generate`'s greedy default. */
export function toOpenAISampling(
  body: OpenAISampling,
  maxTokens: number | null | undefined,
): SamplingInput {
  return compact<SamplingInput>({
    maxNewTokens: maxTokens,
    temperature: body.temperature ?? 1,
    topP: body.top_p ?? 1,
    topK: body.top_k,
    seed: body.seed,
    stop: body.stop,
  });
}

export function finishReasonOf(meta: GenerateMeta): OpenAIFinishReason | null {
  return meta.finishReason?.type ?? null;
}

export function usageOf(meta: GenerateMeta): OpenAIUsage {
  return {
    prompt_tokens: meta.promptTokens,
    completion_tokens: meta.completionTokens,
    total_tokens: meta.promptTokens + meta.completionTokens,
  };
}

export function openAIId(prefix: string): string {
  return `${prefix}-${randomUUID().replaceAll('-', '')}`;
}

/**
 * How a route renders replies; `delta` is the text added since the previous chunk and
 * `logprobs` the entries of the tokens added since then (empty unless the request asked).
 */
export interface OpenAIRenderer<Full, Chunk> {
  full(text: string, meta: GenerateMeta): Full;
  chunk(
    delta: string,
    finish: OpenAIFinishReason | null,
    first: boolean,
    logprobs: readonly LogprobEntry[],
  ): Chunk;
  /** The last chunk when `stream_options.include_usage`: empty choices and the usage. */
  usage(usage: OpenAIUsage): Chunk;
}

/**
 * Runs one generation for an OpenAI route: a whole reply, or SSE chunks of text deltas
 * (then a usage chunk when asked, then `[DONE]`). The client going away aborts it.
 */
export async function serveOpenAI<Full, Chunk>(
  { engine }: RouteContext,
  reply: FastifyReply,
  input: GenerateInput & { rid: string },
  stream: { on: boolean; includeUsage: boolean },
  render: OpenAIRenderer<Full, Chunk>,
): Promise<Full | FastifyReply> {
  onClientGone(reply, () => void engine.abortRequest(input.rid).catch(() => undefined));
  if (!stream.on) {
    try {
      const out = await engine.generate(input);
      return render.full(out.text, out.metaInfo);
    } catch (error) {
      throw asRequestError(error);
    }
  }
  const peeked = await peek(() => engine.generateStream(input));
  await sendSse(reply, chunks(peeked.stream, stream.includeUsage, render));
  return reply;
}

async function* chunks<Chunk>(
  source: AsyncIterable<GenerateChunk>,
  includeUsage: boolean,
  render: OpenAIRenderer<unknown, Chunk>,
): AsyncGenerator<Chunk> {
  let sent = '';
  let sentTokens = 0;
  let first = true;
  let last: GenerateMeta | undefined;
  for await (const update of source) {
    last = update.metaInfo;
    // Cumulative text only grows; if it ever does not, nothing is resent.
    const delta = update.text.startsWith(sent) ? update.text.slice(sent.length) : '';
    sent += delta;
    const finish = finishReasonOf(update.metaInfo);
    if (delta === '' && finish === null && !first) continue;
    const logprobs = update.metaInfo.outputTokenLogprobs?.slice(sentTokens) ?? [];
    sentTokens += logprobs.length;
    yield withUsage(render.chunk(delta, finish, first, logprobs), includeUsage);
    first = false;
  }
  if (includeUsage && last) yield render.usage(usageOf(last));
}

function withUsage<Chunk>(chunk: Chunk, includeUsage: boolean): Chunk {
  return includeUsage ? { ...chunk, usage: null } : chunk;
}

/** The request fields that ask for logprobs: on, with each token's text (OpenAI shows it). */
export function logprobInput(
  on: boolean,
): Pick<GenerateInput, 'returnLogprob' | 'returnTextInLogprobs'> {
  return on ? { returnLogprob: true, returnTextInLogprobs: true } : {};
}
