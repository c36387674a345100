import type { DetokenizeReply, TokenizeReply } from '@ts/client';
import type { FastifyInstance } from 'fastify';
import * as z from 'zod';
import type { RouteContext } from './context.js';
import { asRequestError, parseBody } from './errors.js';
import { tokenId } from './sampling.js';

const tokenizeSchema = z.object({
  // SGLang takes `prompt`; `text` is accepted as well.
  prompt: z.string().nullish(),
  text: z.string().nullish(),
  add_special_tokens: z.boolean().nullish(),
});

const detokenizeSchema = z.object({
  tokens: z.array(tokenId),
  skip_special_tokens: z.boolean().nullish(),
});

/** `POST /tokenize` and `/detokenize` (SGLang's): the model's own tokenizer over HTTP. */
export function registerTokenizeRoutes(app: FastifyInstance, { engine }: RouteContext): void {
  app.post('/tokenize', async (request): Promise<TokenizeReply> => {
    const body = parseBody(tokenizeSchema, request.body);
    const text = body.prompt ?? body.text;
    if (text == null) throw asRequestError(new Error('body: give prompt (the text to tokenize)'));
    try {
      const tokens = await engine.tokenize(text, body.add_special_tokens ?? true);
      return { tokens, count: tokens.length, max_model_len: engine.modelInfo().maxContext };
    } catch (error) {
      throw asRequestError(error);
    }
  });

  app.post('/detokenize', async (request): Promise<DetokenizeReply> => {
    const body = parseBody(detokenizeSchema, request.body);
    try {
      return { text: engine.detokenize(body.tokens, body.skip_special_tokens ?? false) };
    } catch (error) {
      throw asRequestError(error);
    }
  });
}
