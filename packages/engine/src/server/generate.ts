import { randomUUID } from 'node:crypto';
import { generateRequestSchema } from '@ts/client';
import type { FastifyInstance } from 'fastify';
import type * as z from 'zod';
import type { GenerateChunk, GenerateInput } from '../engine-api.js';
import { callScope } from './call-scope.js';
import type { RouteContext } from './context.js';
import { asRequestError, parseBody, RequestError } from './errors.js';
import {
  checkGenerations,
  checkReplies,
  samplesOf,
  toGenerateReply,
  toSamplingInput,
} from './sampling.js';
import { mergeIndexed, type Peeked, peek, sendSse } from './sse.js';

/** The body's schema is the wire's, declared once in @ts/client. */
const generateSchema = generateRequestSchema;

type GenerateBody = z.output<typeof generateSchema>;

export function newRid(): string {
  return randomUUID().replaceAll('-', '');
}

/**
 * The engine inputs a body asks for (one per prompt, or `n` per prompt, prompt by prompt) and
 * whether the reply is a list (a batch, or n > 1).
 */
export function toInputs(body: GenerateBody): { inputs: GenerateInput[]; batch: boolean } {
  const { text, input_ids: ids } = body;
  if ((text == null) === (ids == null)) {
    throw new RequestError(400, 'body: give exactly one of text and input_ids');
  }
  const prompts: Array<{ text: string } | { inputIds: number[] }> =
    text == null
      ? isBatchIds(ids)
        ? ids.map((inputIds) => ({ inputIds }))
        : [{ inputIds: ids as number[] }]
      : Array.isArray(text)
        ? text.map((t) => ({ text: t }))
        : [{ text }];
  const batch = Array.isArray(text) || isBatchIds(ids);
  const n = prompts.length;
  if (!batch && Array.isArray(body.rid)) {
    throw new RequestError(400, 'rid: must be a string for one prompt');
  }
  if (!batch && Array.isArray(body.sampling_params)) {
    throw new RequestError(400, 'sampling_params: must be an object for one prompt');
  }
  if (batch && body.rid != null && (!Array.isArray(body.rid) || body.rid.length !== n)) {
    throw new RequestError(400, `rid: must be a list of ${n} strings, one per prompt`);
  }
  const rid = perPrompt('rid', body.rid, n, 'one string');
  const sampling = perPrompt('sampling_params', body.sampling_params, n, 'one object');
  const logprobs = logprobFields(body, n);
  checkGenerations(prompts.reduce((sum, _, i) => sum + (sampling(i)?.n ?? 1), 0));
  const inputs = prompts.flatMap((prompt, i) =>
    samplesOf(
      {
        ...prompt,
        samplingParams: toSamplingInput(sampling(i)),
        rid: rid(i) ?? newRid(),
        ...logprobs(i),
        ...(body.data_parallel_rank != null ? { dataParallelRank: body.data_parallel_rank } : {}),
      },
      sampling(i)?.n ?? 1,
    ),
  );
  checkReplies(inputs);
  return { batch: batch || inputs.length > prompts.length, inputs };
}

/** A field given once for every prompt, or as a list of one value per prompt: its value for prompt i. */
function perPrompt<T>(
  field: string,
  value: T | T[] | null | undefined,
  n: number,
  one: string,
): (i: number) => T | undefined {
  if (Array.isArray(value) && value.length !== n) {
    throw new RequestError(400, `${field}: must be ${one}, or a list of ${n}`);
  }
  return (i) => (Array.isArray(value) ? value[i] : (value ?? undefined));
}

/** The logprob fields of prompt i's input (all off unless `return_logprob`). */
function logprobFields(body: GenerateBody, n: number): (i: number) => Partial<GenerateInput> {
  const on = perPrompt('return_logprob', body.return_logprob, n, 'one boolean');
  const text = perPrompt('return_text_in_logprobs', body.return_text_in_logprobs, n, 'one boolean');
  const top = perPrompt('top_logprobs_num', body.top_logprobs_num, n, 'one integer');
  const start = perPrompt('logprob_start_len', body.logprob_start_len, n, 'one integer');
  // One list of ids for every prompt, or a list of such lists, one per prompt.
  const idLists = body.token_ids_logprob;
  const nested = Array.isArray(idLists?.[0]);
  const chosen = perPrompt(
    'token_ids_logprob',
    nested ? (idLists as number[][]) : idLists == null ? undefined : [idLists as number[]],
    nested ? n : 1,
    'one list of ids',
  );
  return (i) => {
    if (!on(i)) return {};
    const ids = chosen(nested ? i : 0) ?? [];
    return {
      returnLogprob: true,
      ...(text(i) ? { returnTextInLogprobs: true } : {}),
      ...((top(i) ?? 0) !== 0 ? { topLogprobsNum: top(i) as number } : {}),
      ...(ids.length > 0 ? { tokenIdsLogprob: ids } : {}),
      ...((start(i) ?? -1) !== -1 ? { logprobStartLen: start(i) as number } : {}),
    };
  };
}

function isBatchIds(ids: number[] | number[][] | null | undefined): ids is number[][] {
  return Array.isArray(ids) && Array.isArray(ids[0]);
}

/** `POST /generate` (SGLang): one prompt or a batch, whole or streamed. */
export function registerGenerateRoutes(app: FastifyInstance, { engine }: RouteContext): void {
  app.post('/generate', async (request, reply) => {
    const body = parseBody(generateSchema, request.body);
    const { inputs, batch } = toInputs(body);
    const scope = callScope(reply);

    if (body.stream) {
      const settled = await Promise.allSettled(
        inputs.map((input) => peek(() => engine.generateStream(input, scope.options))),
      );
      const failed = settled.find((s) => s.status === 'rejected');
      if (failed) {
        for (const s of settled) {
          if (s.status === 'fulfilled') void s.value.close();
        }
        scope.abort();
        throw asRequestError(failed.reason);
      }
      const streams = settled.map(
        (s) => (s as PromiseFulfilledResult<Peeked<GenerateChunk>>).value.stream,
      );
      await sendSse(reply, batch ? batchEvents(streams) : singleEvents(streams[0] as Stream));
      return reply;
    }

    try {
      const outputs = await Promise.all(
        inputs.map((input) => engine.generate(input, scope.options)),
      );
      const replies = outputs.map(toGenerateReply);
      return batch ? replies : replies[0];
    } catch (error) {
      scope.abort();
      throw asRequestError(error);
    }
  });
}

type Stream = AsyncIterable<GenerateChunk>;

async function* singleEvents(stream: Stream) {
  for await (const chunk of stream) yield toGenerateReply(chunk);
}

async function* batchEvents(streams: Stream[]) {
  for await (const { index, value } of mergeIndexed(streams)) {
    yield { ...toGenerateReply(value), index };
  }
}
