import {
  type ChatCompletion,
  type ChatCompletionChoice,
  type ChatCompletionChunk,
  type ChatLogprobs,
  chatCompletionRequestSchema,
  type chatMessageSchema,
} from '@ts/client';
import type { FastifyInstance } from 'fastify';
import type * as z from 'zod';
import type { ChatMessageInput } from '../engine-api.js';
import type { RouteContext } from './context.js';
import { asRequestError, parseBody, RequestError } from './errors.js';
import {
  type LogprobPosition,
  logprobInput,
  replyIdentity,
  serveOpenAI,
  toOpenAISampling,
} from './openai-common.js';
import { samplesOf } from './sampling.js';

/** The body's schema is the wire's, declared once in @ts/client. */
const chatSchema = chatCompletionRequestSchema;

/** One token in chat logprobs: its text, logprob and UTF-8 bytes. */
function chatToken([logprob, , text]: readonly [number, number, string | null]) {
  return { token: text ?? '', logprob, bytes: [...Buffer.from(text ?? '', 'utf8')] };
}

/** Chat logprobs of some positions: each chosen token, with the most likely ones. */
function chatLogprobs(positions: readonly LogprobPosition[]): ChatLogprobs {
  return {
    content: positions.map(({ chosen, top }) => ({
      ...chatToken(chosen),
      top_logprobs: top.map(chatToken),
    })),
    refusal: null,
  };
}

type ChatMessageBody = z.output<typeof chatMessageSchema>;

/** OpenAI messages as the chat template takes them: `developer` is a system turn. */
export function toChatMessages(messages: ChatMessageBody[]): ChatMessageInput[] {
  return messages.map((m) => ({
    role: m.role === 'developer' ? 'system' : m.role,
    content:
      typeof m.content === 'string' ? m.content : (m.content ?? []).map((p) => p.text).join(''),
  }));
}

/** `POST /v1/chat/completions` (OpenAI): the model's chat template, then one generation. */
export function registerChatRoute(app: FastifyInstance, ctx: RouteContext): void {
  app.post('/v1/chat/completions', async (request, reply) => {
    const body = parseBody(chatSchema, request.body);
    let prompt: string;
    try {
      prompt = ctx.engine.applyChatTemplate(
        toChatMessages(body.messages),
        body.add_generation_prompt ?? true,
        body.chat_template_kwargs ?? undefined,
      );
    } catch (error) {
      throw asRequestError(error);
    }
    const { id, model, created } = replyIdentity('chatcmpl', body.model, ctx);
    const withLogprobs = body.logprobs === true;
    if (!withLogprobs && (body.top_logprobs ?? 0) > 0)
      throw new RequestError(400, 'top_logprobs: needs logprobs: true');
    const input = {
      text: prompt,
      samplingParams: toOpenAISampling(body, body.max_completion_tokens ?? body.max_tokens),
      rid: id,
      ...logprobInput(withLogprobs, body.top_logprobs ?? 0),
    };
    const chunkBase = { id, object: 'chat.completion.chunk' as const, created, model };
    return serveOpenAI(ctx, reply, samplesOf(input, body.n ?? 1), body, {
      choice: ({ text, index, finish, logprobs }): ChatCompletionChoice => ({
        index,
        message: { role: 'assistant', content: text, refusal: null },
        logprobs: withLogprobs ? chatLogprobs(logprobs) : null,
        finish_reason: finish ?? 'stop',
      }),
      full: (choices, usage): ChatCompletion => ({
        id,
        object: 'chat.completion',
        created,
        model,
        choices,
        usage,
      }),
      chunk: (index, delta, finish, first, entries): ChatCompletionChunk => ({
        ...chunkBase,
        choices: [
          {
            index,
            delta: first ? { role: 'assistant', content: delta } : delta ? { content: delta } : {},
            logprobs: withLogprobs ? chatLogprobs(entries) : null,
            finish_reason: finish,
          },
        ],
      }),
      usage: (usage): ChatCompletionChunk => ({ ...chunkBase, choices: [], usage }),
    });
  });
}
