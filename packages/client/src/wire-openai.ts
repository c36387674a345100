/**
 * The subset of OpenAI's API that the engine serves under `/v1`, in the shapes the official
 * `openai` package reads. Use that package as the client; these types are for the server
 * and for callers who want plain fetch.
 */
import type * as z from 'zod';
import type {
  chatCompletionRequestSchema,
  chatMessageSchema,
  completionRequestSchema,
} from './openai-schema.js';
import type { openAISamplingShape } from './sampling-schema.js';

/** OpenAI's two, plus `abort` (as SGLang) when the request was aborted. */
export type OpenAIFinishReason = 'stop' | 'length' | 'abort';

export interface OpenAIUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface OpenAIStreamOptions {
  /** A last chunk with empty `choices` and the `usage`; other chunks carry `usage: null`. */
  include_usage?: boolean | null;
}

/**
 * Sampling fields both request kinds take; nulls mean omitted. Inferred from
 * `openAISamplingShape`, the one declaration, which the server parses bodies with.
 */
export type OpenAISamplingRequest = z.input<z.ZodObject<typeof openAISamplingShape>>;

/** `POST /v1/completions`; inferred from `completionRequestSchema`, which the server parses with. */
export type CompletionRequest = z.input<typeof completionRequestSchema>;

export type ChatMessageParam = z.input<typeof chatMessageSchema>;

/** `POST /v1/chat/completions`; inferred from `chatCompletionRequestSchema`. */
export type ChatCompletionRequest = z.input<typeof chatCompletionRequestSchema>;

/**
 * A completion's logprobs (the legacy shape): each token's text (decoded alone), its logprob,
 * the most likely tokens by text (null with `logprobs: 0`) and its offset in the text.
 */
export interface CompletionLogprobs {
  tokens: string[];
  /** null for the first prompt token under `echo`. */
  token_logprobs: (number | null)[];
  /** Per position (null for prompt positions under `echo`); null with `logprobs: 0`. */
  top_logprobs: (Record<string, number> | null)[] | null;
  text_offset: number[];
}

export interface CompletionChoice {
  index: number;
  text: string;
  logprobs: CompletionLogprobs | null;
  finish_reason: OpenAIFinishReason | null;
}

/** The reply of `/v1/completions`, and each streamed chunk (where `text` is the delta). */
export interface Completion {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  choices: CompletionChoice[];
  usage?: OpenAIUsage | null;
}

/** One token: its text (decoded alone), logprob and UTF-8 bytes. */
export interface ChatTopLogprob {
  token: string;
  logprob: number;
  bytes: number[];
}

/** One chosen token, with the most likely tokens at its position (`top_logprobs` of them). */
export interface ChatTokenLogprob extends ChatTopLogprob {
  top_logprobs: ChatTopLogprob[];
}

export interface ChatLogprobs {
  content: ChatTokenLogprob[];
  refusal: null;
}

export interface ChatCompletionChoice {
  index: number;
  message: { role: 'assistant'; content: string; refusal: null };
  logprobs: ChatLogprobs | null;
  finish_reason: OpenAIFinishReason;
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: ChatCompletionChoice[];
  usage: OpenAIUsage;
}

export interface ChatCompletionChunkChoice {
  index: number;
  delta: { role?: 'assistant'; content?: string };
  logprobs: ChatLogprobs | null;
  finish_reason: OpenAIFinishReason | null;
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: ChatCompletionChunkChoice[];
  usage?: OpenAIUsage | null;
}

export interface ModelCard {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
  root: string;
  max_model_len: number;
}

/** `GET /v1/models`. */
export interface ModelList {
  object: 'list';
  data: ModelCard[];
}
