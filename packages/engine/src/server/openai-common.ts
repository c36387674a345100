import { randomUUID } from 'node:crypto';
import {
  type OpenAIFinishReason,
  type OpenAIUsage,
  openAIExtensionShape,
  type openAISamplingShape,
} from '@ts/client';
import type { FastifyReply } from 'fastify';
import type * as z from 'zod';
import type { GenerateChunk, GenerateInput, GenerateMeta, SamplingInput } from '../engine-api.js';
import { callScope } from './call-scope.js';
import type { RouteContext } from './context.js';
import { asRequestError } from './errors.js';
import { checkReplies, compact, toSamplingInput } from './sampling.js';
import { mergeIndexed, type Peeked, peek, sendSse } from './sse.js';

export { MAX_OPENAI_TOP_LOGPROBS, openAISamplingShape } from '@ts/client';

/** `[logprob, token id, text]`, as `GenerateMeta.outputTokenLogprobs` holds them. */
export type LogprobEntry = [number, number, string | null];

/** One output position's logprobs: the chosen token's entry, and the most likely ones. */
export interface LogprobPosition {
  chosen: LogprobEntry;
  top: readonly LogprobEntry[];
}

/** The positions `from` on of a generation's logprobs (top lists empty where not asked). */
export function logprobPositions(meta: GenerateMeta, from = 0): LogprobPosition[] {
  return (meta.outputTokenLogprobs ?? []).slice(from).map((chosen, j) => ({
    chosen,
    top: meta.outputTopLogprobs?.[from + j] ?? [],
  }));
}

type OpenAISampling = z.output<z.ZodObject<typeof openAISamplingShape>>;

/** OpenAI's defaults (temperature 1, top_p 1), unlike `/generate`'s greedy default. */
export function toOpenAISampling(
  body: OpenAISampling,
  maxTokens: number | null | undefined,
): SamplingInput {
  return {
    // SGLang's extensions: their names and conversion are /generate's.
    ...toSamplingInput(pickExtensions(body)),
    ...compact<SamplingInput>({
      maxNewTokens: maxTokens,
      temperature: body.temperature ?? 1,
      topP: body.top_p ?? 1,
      seed: body.seed,
      stop: body.stop,
      logitBias: body.logit_bias,
    }),
  };
}

function pickExtensions(body: OpenAISampling): Pick<OpenAISampling, ExtensionKey> {
  return Object.fromEntries(
    (Object.keys(openAIExtensionShape) as ExtensionKey[]).map((key) => [key, body[key]]),
  ) as Pick<OpenAISampling, ExtensionKey>;
}

type ExtensionKey = keyof typeof openAIExtensionShape;

function finishReasonOf(meta: GenerateMeta): OpenAIFinishReason | null {
  return meta.finishReason?.type ?? null;
}

/** What an OpenAI reply names itself by: a fresh id, the model, when it was made (seconds). */
export interface OpenAIReplyIdentity {
  id: string;
  model: string;
  created: number;
}

/** A reply's identity: an id after `prefix`, the model the body names or else the served one. */
export function replyIdentity(
  prefix: string,
  model: string | null | undefined,
  ctx: RouteContext,
): OpenAIReplyIdentity {
  return {
    id: `${prefix}-${randomUUID().replaceAll('-', '')}`,
    model: model ?? ctx.modelName(),
    created: Math.floor(Date.now() / 1000),
  };
}

/** The body's fields that ask for a stream, and for its usage chunk. */
export interface StreamFields {
  stream?: boolean | null | undefined;
  stream_options?: { include_usage?: boolean | null | undefined } | null | undefined;
}

/** One finished sample, as a route renders it into a choice (the `index`-th of n). */
export interface FinishedSample {
  text: string;
  meta: GenerateMeta;
  index: number;
  finish: OpenAIFinishReason | null;
  /** Its output's logprobs (empty unless asked). */
  logprobs: LogprobPosition[];
}

/**
 * How a route renders replies. `choice` renders one finished sample and `full` the reply
 * around them; a chunk carries one sample's text added since its previous chunk and the
 * logprob entries of its tokens added since then (empty unless asked).
 */
export interface OpenAIRenderer<Full, Choice, Chunk> {
  choice(sample: FinishedSample): Choice;
  full(choices: Choice[], usage: OpenAIUsage): Full;
  chunk(
    index: number,
    delta: string,
    finish: OpenAIFinishReason | null,
    first: boolean,
    logprobs: readonly LogprobPosition[],
  ): Chunk;
  /** The last chunk when `stream_options.include_usage`: empty choices and the usage. */
  usage(usage: OpenAIUsage): Chunk;
}

/**
 * The usage of prompts sampled `perPrompt` times each (metas prompt by prompt): each prompt
 * counted once, every completion token.
 */
function usageOfSamples(metas: readonly GenerateMeta[], perPrompt: number): OpenAIUsage {
  let prompt = 0;
  for (let at = 0; at < metas.length; at += perPrompt) prompt += metas[at]?.promptTokens ?? 0;
  const completion = metas.reduce((sum, m) => sum + m.completionTokens, 0);
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
  };
}

/**
 * Runs an OpenAI route's generations (`perPrompt` samples of each prompt, prompt by prompt): a
 * whole reply, or SSE chunks of each sample's text deltas (then a usage chunk when asked, then
 * `[DONE]`). The client going away aborts them.
 */
export async function serveOpenAI<Full, Choice, Chunk>(
  { engine }: RouteContext,
  reply: FastifyReply,
  inputs: (GenerateInput & { rid: string })[],
  stream: StreamFields,
  render: OpenAIRenderer<Full, Choice, Chunk>,
  perPrompt = inputs.length,
): Promise<Full | FastifyReply> {
  checkReplies(inputs);
  const scope = callScope(reply);
  if (!stream.stream) {
    try {
      const outs = await Promise.all(inputs.map((input) => engine.generate(input, scope.options)));
      const choices = outs.map(({ text, metaInfo: meta }, index) =>
        render.choice({
          text,
          meta,
          index,
          finish: finishReasonOf(meta),
          logprobs: logprobPositions(meta),
        }),
      );
      return render.full(
        choices,
        usageOfSamples(
          outs.map((out) => out.metaInfo),
          perPrompt,
        ),
      );
    } catch (error) {
      scope.abort();
      throw asRequestError(error);
    }
  }
  const settled = await Promise.allSettled(
    inputs.map((input) => peek(() => engine.generateStream(input, scope.options))),
  );
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed) {
    for (const s of settled) if (s.status === 'fulfilled') void s.value.close();
    scope.abort();
    throw asRequestError(failed.reason);
  }
  const streams = settled.map(
    (s) => (s as PromiseFulfilledResult<Peeked<GenerateChunk>>).value.stream,
  );
  const includeUsage = stream.stream_options?.include_usage ?? false;
  await sendSse(reply, chunks(streams, includeUsage, render, perPrompt));
  return reply;
}

async function* chunks<Chunk>(
  sources: AsyncIterable<GenerateChunk>[],
  includeUsage: boolean,
  render: OpenAIRenderer<unknown, unknown, Chunk>,
  perPrompt: number,
): AsyncGenerator<Chunk> {
  const sent = sources.map(() => ({ text: '', tokens: 0, first: true }));
  const last: GenerateMeta[] = [];
  for await (const { index, value: update } of mergeIndexed(sources)) {
    const at = sent[index] as { text: string; tokens: number; first: boolean };
    last[index] = update.metaInfo;
    // Cumulative text only grows; if it ever does not, nothing is resent.
    const delta = update.text.startsWith(at.text) ? update.text.slice(at.text.length) : '';
    const finish = finishReasonOf(update.metaInfo);
    if (delta === '' && finish === null && !at.first) continue;
    at.text += delta;
    const logprobs = logprobPositions(update.metaInfo, at.tokens);
    at.tokens += logprobs.length;
    yield withUsage(render.chunk(index, delta, finish, at.first, logprobs), includeUsage);
    at.first = false;
  }
  if (includeUsage && last.length > 0) yield render.usage(usageOfSamples(last, perPrompt));
}

function withUsage<Chunk>(chunk: Chunk, includeUsage: boolean): Chunk {
  return includeUsage ? { ...chunk, usage: null } : chunk;
}

/**
 * The request fields that ask for logprobs: on, with each token's text (OpenAI shows it), and
 * `top` most likely tokens per position.
 */
export function logprobInput(
  on: boolean,
  top = 0,
): Pick<GenerateInput, 'returnLogprob' | 'returnTextInLogprobs' | 'topLogprobsNum'> {
  if (!on) return {};
  return {
    returnLogprob: true,
    returnTextInLogprobs: true,
    ...(top > 0 ? { topLogprobsNum: top } : {}),
  };
}
