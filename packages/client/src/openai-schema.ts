/**
 * The bodies of `/v1/completions` and `/v1/chat/completions`, declared once: the server parses
 * with these schemas, and `CompletionRequest` / `ChatCompletionRequest` are inferred from them.
 */
import * as z from 'zod';
import { MAX_OPENAI_TOP_LOGPROBS, openAISamplingShape, tokenId } from './sampling-schema.js';

export const completionRequestSchema = z.object({
  ...openAISamplingShape,
  /** A prompt (a string or token ids), or a list of them: choices go prompt by prompt, n each. */
  prompt: z.union(
    [
      z.string(),
      z.array(tokenId).min(1),
      z.array(z.string()).min(1),
      z.array(z.array(tokenId).min(1)).min(1),
    ],
    { error: 'must be a string, token ids, or a list of either' },
  ),
  /** The prompt before the completion (with logprobs: the prompt tokens' too); not with stream. */
  echo: z.boolean().nullish(),
  best_of: z.literal(1, { error: 'only best_of 1 is supported' }).nullish(),
  /**
   * Each chosen token's logprob, with this many most likely tokens per position (0 to 20);
   * `false` is off, as some send it.
   */
  logprobs: z
    .union([z.number().int().min(0).max(MAX_OPENAI_TOP_LOGPROBS), z.literal(false)], {
      error: `must be an integer in [0, ${MAX_OPENAI_TOP_LOGPROBS}]`,
    })
    .nullish(),
  suffix: z.null({ error: 'suffix is not supported' }).optional(),
});

const textPart = z.object({
  type: z.literal('text', { error: 'only text content parts are supported' }),
  text: z.string(),
});

export const chatMessageSchema = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool'], {
    error: "must be one of 'system', 'developer', 'user', 'assistant', 'tool'",
  }),
  /** A string or text parts; null for an assistant turn with no text. */
  content: z
    .union([z.string(), z.array(textPart)], { error: 'must be a string or a list of text parts' })
    .nullish(),
});

export const chatCompletionRequestSchema = z.object({
  ...openAISamplingShape,
  messages: z.array(chatMessageSchema).min(1),
  max_completion_tokens: z.number().int().nonnegative().nullish(),
  /** Each chosen token's logprob in `choices[].logprobs.content`. */
  logprobs: z.boolean().nullish(),
  /** vLLM's and SGLang's: more chat template variables (e.g. Qwen3's `enable_thinking`). */
  chat_template_kwargs: z.record(z.string(), z.unknown()).nullish(),
  /** vLLM's and SGLang's: whether to open the reply's turn (default true). */
  add_generation_prompt: z.boolean().nullish(),
  /** With `logprobs`: this many most likely tokens per position (0 to 20). */
  top_logprobs: z.number().int().min(0).max(MAX_OPENAI_TOP_LOGPROBS).nullish(),
  // Not served: refused when asked for, so a reply never pretends to honour them.
  tools: z
    .array(z.unknown())
    .max(0, { error: 'tools are not supported (no tool-call parsing)' })
    .nullish(),
  tool_choice: z.literal('none', { error: 'tools are not supported' }).nullish(),
  response_format: z
    .object({ type: z.literal('text', { error: 'only response_format text is supported' }) })
    .nullish(),
});
