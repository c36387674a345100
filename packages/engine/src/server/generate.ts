import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import * as z from 'zod';
import type { GenerateChunk, GenerateInput } from '../engine-api.js';
import type { RouteContext } from './context.js';
import { asRequestError, parseBody, RequestError } from './errors.js';
import {
  onlyOff,
  samplesOf,
  samplingParamsSchema,
  toGenerateReply,
  tokenId,
  toSamplingInput,
} from './sampling.js';
import { mergeIndexed, onClientGone, type Peeked, peek, sendSse } from './sse.js';

const generateSchema = z.object({
  text: z
    .union([z.string(), z.array(z.string()).min(1)], {
      error: 'must be a string or a list of strings',
    })
    .nullish(),
  input_ids: z
    .union([z.array(tokenId).min(1), z.array(z.array(tokenId).min(1)).min(1)], {
      error: 'must be a list of token ids, or a list of such lists',
    })
    .nullish(),
  sampling_params: z
    .union([samplingParamsSchema, z.array(samplingParamsSchema)], {
      error: 'must be an object, or a list of objects for a batch',
    })
    .nullish(),
  stream: z.boolean().nullish(),
  rid: z
    .union([z.string().min(1), z.array(z.string().min(1))], {
      error: 'must be a string, or a list of strings for a batch',
    })
    .nullish(),
  return_logprob: z
    .union([z.boolean(), z.array(z.boolean())], {
      error: 'must be a boolean, or a list of booleans for a batch',
    })
    .nullish(),
  // SGLang's other logprob fields: only their "off" values are served.
  logprob_start_len: z
    .union([z.number().int().min(-1), z.array(z.number().int().min(-1))], {
      error: 'must be an integer >= -1, or a list of them for a batch',
    })
    .nullish(),
  top_logprobs_num: z
    .union([z.number().int().min(0).max(64), z.array(z.number().int().min(0).max(64))], {
      error: 'must be an integer in [0, 64], or a list of them for a batch',
    })
    .nullish(),
  token_ids_logprob: z
    .union([z.array(tokenId), z.array(z.array(tokenId))], {
      error: 'must be a list of token ids, or a list of such lists for a batch',
    })
    .nullish(),
  return_text_in_logprobs: z
    .union([z.boolean(), z.array(z.boolean())], {
      error: 'must be a boolean, or a list of booleans for a batch',
    })
    .nullish(),
  data_parallel_rank: z.number().int().nonnegative().nullish(),
  // SGLang features not served: refused when asked for, not dropped.
  lora_path: onlyOff(null, 'LoRA adapters are not supported'),
  image_data: onlyOff(null, 'image input is not supported'),
  video_data: onlyOff(null, 'video input is not supported'),
  audio_data: onlyOff(null, 'audio input is not supported'),
  custom_logit_processor: onlyOff(null, 'custom logit processors are not supported'),
  return_hidden_states: onlyOff(false, 'hidden states are not returned'),
});

type GenerateBody = z.infer<typeof generateSchema>;

export function newRid(): string {
  return randomUUID().replaceAll('-', '');
}

/**
 * The engine inputs a body asks for (one per prompt, or `n` per prompt, prompt by prompt) and
 * whether the reply is a list (a batch, or n > 1).
 */
export function toInputs(body: GenerateBody): { inputs: GenerateInput[]; batch: boolean } {
  const { text, input_ids: ids, sampling_params: sampling, rid } = body;
  const { return_logprob: logprob, return_text_in_logprobs: logprobText } = body;
  const dpRank = body.data_parallel_rank;
  const startLen = body.logprob_start_len;
  const chosenIds = body.token_ids_logprob;
  const topNum = body.top_logprobs_num;
  // One list of ids for every prompt, or (a list of lists) one list per prompt.
  const chosenFor = (i: number): number[] | undefined =>
    chosenIds == null
      ? undefined
      : Array.isArray(chosenIds[0])
        ? (chosenIds as number[][])[i]
        : (chosenIds as number[]);
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
  if (!batch && Array.isArray(rid)) {
    throw new RequestError(400, 'rid: must be a string for one prompt');
  }
  if (!batch && Array.isArray(sampling)) {
    throw new RequestError(400, 'sampling_params: must be an object for one prompt');
  }
  if (batch && rid != null && (!Array.isArray(rid) || rid.length !== n)) {
    throw new RequestError(400, `rid: must be a list of ${n} strings, one per prompt`);
  }
  if (Array.isArray(sampling) && sampling.length !== n) {
    throw new RequestError(400, `sampling_params: must be one object, or a list of ${n}`);
  }
  if (Array.isArray(logprob) && logprob.length !== n) {
    throw new RequestError(400, `return_logprob: must be one boolean, or a list of ${n}`);
  }
  if (Array.isArray(logprobText) && logprobText.length !== n) {
    throw new RequestError(400, `return_text_in_logprobs: must be one boolean, or a list of ${n}`);
  }
  if (chosenIds != null && Array.isArray(chosenIds[0]) && chosenIds.length !== n) {
    throw new RequestError(400, `token_ids_logprob: must be one list of ids, or a list of ${n}`);
  }
  if (Array.isArray(topNum) && topNum.length !== n) {
    throw new RequestError(400, `top_logprobs_num: must be one integer, or a list of ${n}`);
  }
  if (Array.isArray(startLen) && startLen.length !== n) {
    throw new RequestError(400, `logprob_start_len: must be one integer, or a list of ${n}`);
  }
  const pick = <T>(value: T | T[] | null | undefined, i: number) =>
    Array.isArray(value) ? value[i] : value;
  const inputs = prompts.flatMap((prompt, i) =>
    samplesOf(
      {
        ...prompt,
        samplingParams: toSamplingInput(pick(sampling, i)),
        rid: pick(rid, i) ?? newRid(),
        ...(pick(logprob, i) ? { returnLogprob: true } : {}),
        ...(pick(logprob, i) && pick(logprobText, i) ? { returnTextInLogprobs: true } : {}),
        ...(dpRank != null ? { dataParallelRank: dpRank } : {}),
        ...(pick(logprob, i) && (pick(topNum, i) ?? 0) > 0
          ? { topLogprobsNum: pick(topNum, i) as number }
          : {}),
        ...(pick(logprob, i) && (chosenFor(i)?.length ?? 0) > 0
          ? { tokenIdsLogprob: chosenFor(i) as number[] }
          : {}),
        ...(pick(logprob, i) && (pick(startLen, i) ?? -1) >= 0
          ? { logprobStartLen: pick(startLen, i) as number }
          : {}),
      },
      pick(sampling, i)?.n ?? 1,
    ),
  );
  return { batch: batch || inputs.length > prompts.length, inputs };
}

function isBatchIds(ids: number[] | number[][] | null | undefined): ids is number[][] {
  return Array.isArray(ids) && Array.isArray(ids[0]);
}

/** `POST /generate` (SGLang): one prompt or a batch, whole or streamed. */
export function registerGenerateRoutes(app: FastifyInstance, { engine }: RouteContext): void {
  app.post('/generate', async (request, reply) => {
    const body = parseBody(generateSchema, request.body);
    const { inputs, batch } = toInputs(body);
    const abortAll = () => {
      for (const input of inputs) {
        void engine.abortRequest(input.rid as string).catch(() => undefined);
      }
    };
    onClientGone(reply, abortAll);

    if (body.stream) {
      const settled = await Promise.allSettled(
        inputs.map((input) => peek(() => engine.generateStream(input))),
      );
      const failed = settled.find((s) => s.status === 'rejected');
      if (failed) {
        for (const s of settled) {
          if (s.status === 'fulfilled') void s.value.close();
        }
        abortAll();
        throw asRequestError(failed.reason);
      }
      const streams = settled.map(
        (s) => (s as PromiseFulfilledResult<Peeked<GenerateChunk>>).value.stream,
      );
      await sendSse(reply, batch ? batchEvents(streams) : singleEvents(streams[0] as Stream));
      return reply;
    }

    try {
      const outputs = await Promise.all(inputs.map((input) => engine.generate(input)));
      const replies = outputs.map(toGenerateReply);
      return batch ? replies : replies[0];
    } catch (error) {
      abortAll();
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
