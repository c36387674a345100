import {
  type Completion,
  type CompletionChoice,
  type CompletionLogprobs,
  completionRequestSchema,
} from '@ts/client';
import type { FastifyInstance } from 'fastify';
import type { GenerateMeta } from '../engine-api.js';
import type { RouteContext } from './context.js';
import { parseBody, RequestError } from './errors.js';
import {
  type LogprobPosition,
  logprobInput,
  replyIdentity,
  serveOpenAI,
  toOpenAISampling,
} from './openai-common.js';
import { checkGenerations, samplesOf } from './sampling.js';

/** The body's schema is the wire's, declared once in @ts/client. */
const completionSchema = completionRequestSchema;

/** `POST /v1/completions` (OpenAI): prompts, n samples each, streamed or whole, with usage. */
export function registerCompletionsRoute(app: FastifyInstance, ctx: RouteContext): void {
  app.post('/v1/completions', async (request, reply) => {
    const body = parseBody(completionSchema, request.body);
    // One prompt (a string or ids), or a list of them; choices go prompt by prompt.
    const prompts: (string | number[])[] =
      typeof body.prompt === 'string' || typeof body.prompt[0] === 'number'
        ? [body.prompt as string | number[]]
        : (body.prompt as (string | number[])[]);
    const { id, model, created } = replyIdentity('cmpl', body.model, ctx);
    const base = { id, object: 'text_completion' as const, created, model };
    const withLogprobs = typeof body.logprobs === 'number';
    const top = typeof body.logprobs === 'number' ? body.logprobs : 0;
    const echo = body.echo ?? false;
    if (echo && body.stream) throw new RequestError(400, 'echo: not with stream');
    const offsets = new Map<number, number>();
    /**
     * Sample `index`'s legacy logprobs of the positions `positions()` gives (asked only when the
     * request wants logprobs), offsets going on from its last chunk's.
     */
    const logprobsOf = (
      index: number,
      positions: () => LegacyPosition[],
    ): CompletionLogprobs | null => {
      if (!withLogprobs) return null;
      return legacyLogprobs(index, positions());
    };
    const legacyLogprobs = (index: number, positions: LegacyPosition[]): CompletionLogprobs => {
      let offset = offsets.get(index) ?? 0;
      const text_offset = positions.map(({ text }) => {
        const at = offset;
        offset += text.length;
        return at;
      });
      offsets.set(index, offset);
      return {
        tokens: positions.map(({ text }) => text),
        token_logprobs: positions.map(({ logprob }) => logprob),
        top_logprobs: top > 0 ? positions.map(({ top: best }) => best) : null,
        text_offset,
      };
    };
    const n = body.n ?? 1;
    checkGenerations(prompts.length * n);
    /** Prompt k's text, as echo puts it before the completion. */
    const promptText = (k: number) => {
      const prompt = prompts[k] as string | number[];
      return typeof prompt === 'string' ? prompt : ctx.engine.detokenize(prompt);
    };
    const inputs = prompts.flatMap((prompt, k) =>
      samplesOf(
        {
          ...(typeof prompt === 'string' ? { text: prompt } : { inputIds: prompt }),
          // OpenAI's default for completions is 16 tokens.
          samplingParams: toOpenAISampling(body, body.max_tokens ?? 16),
          rid: prompts.length === 1 ? id : `${id}-p${k}`,
          ...logprobInput(withLogprobs, top),
          ...(echo && withLogprobs ? { logprobStartLen: 0 } : {}),
        },
        n,
      ),
    );
    return serveOpenAI(
      ctx,
      reply,
      inputs,
      body,
      {
        choice: ({ text, meta, index, finish, logprobs }): CompletionChoice => ({
          index,
          text: echo ? promptText(Math.floor(index / n)) + text : text,
          logprobs: logprobsOf(index, () => [
            ...(echo ? promptPositions(meta) : []),
            ...legacyPositions(logprobs),
          ]),
          finish_reason: finish,
        }),
        full: (choices, usage): Completion => ({ ...base, choices, usage }),
        chunk: (index, delta, finish, _first, entries): Completion => ({
          ...base,
          choices: [
            {
              index,
              text: delta,
              logprobs: logprobsOf(index, () => legacyPositions(entries)),
              finish_reason: finish,
            },
          ],
        }),
        usage: (usage): Completion => ({ ...base, choices: [], usage }),
      },
      n,
    );
  });
}

/** One position in the legacy logprobs: its token's text, logprob (null: the first prompt token) and best tokens. */
interface LegacyPosition {
  text: string;
  logprob: number | null;
  top: Record<string, number> | null;
}

function legacyPositions(positions: readonly LogprobPosition[]): LegacyPosition[] {
  return positions.map(({ chosen: [logprob, , text], top }) => ({
    text: text ?? '',
    logprob,
    top: Object.fromEntries(top.map(([value, , token]) => [token ?? '', value])),
  }));
}

/** The prompt's positions under echo: no best tokens there (the first has no logprob either). */
function promptPositions(meta: GenerateMeta): LegacyPosition[] {
  return (meta.inputTokenLogprobs ?? []).map(([logprob, , text]) => ({
    text: text ?? '',
    logprob,
    top: null,
  }));
}
