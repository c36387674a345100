/**
 * The body of `POST /generate`, declared once: the server parses with this schema, and
 * `GenerateRequest` is inferred from it. Shape only, as `samplingParamsSchema`: ranges (a
 * logprob field's, a token id's vocabulary) are the engine's to check.
 */
import * as z from 'zod';
import { onlyOff, samplingParamsSchema, tokenId } from './sampling-schema.js';

export const generateRequestSchema = z.object({
  /** Exactly one of `text` and `input_ids`; a list of either is a batch. */
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
  /** For a batch, one object for all or one per prompt. */
  sampling_params: z
    .union([samplingParamsSchema, z.array(samplingParamsSchema)], {
      error: 'must be an object, or a list of objects for a batch',
    })
    .nullish(),
  /** Server-Sent Events of cumulative replies, then `data: [DONE]`. */
  stream: z.boolean().nullish(),
  /** Request id (one per prompt for a batch); generated when omitted. */
  rid: z
    .union([z.string().min(1), z.array(z.string().min(1))], {
      error: 'must be a string, or a list of strings for a batch',
    })
    .nullish(),
  /**
   * Each output token's log-probability in `meta_info.output_token_logprobs` (one flag for
   * all prompts, or one per prompt).
   */
  return_logprob: z
    .union([z.boolean(), z.array(z.boolean())], {
      error: 'must be a boolean, or a list of booleans for a batch',
    })
    .nullish(),
  /** With `return_logprob`: also the prompt tokens' logprobs from this index on (-1: none). */
  logprob_start_len: z
    .union([z.number().int(), z.array(z.number().int())], {
      error: 'must be an integer, or a list of them for a batch',
    })
    .nullish(),
  /** With `return_logprob`: the most likely tokens at every output position (at most 64). */
  top_logprobs_num: z
    .union([z.number().int(), z.array(z.number().int())], {
      error: 'must be an integer, or a list of them for a batch',
    })
    .nullish(),
  /** With `return_logprob`: these ids' logprobs at every output position (per prompt: lists). */
  token_ids_logprob: z
    .union([z.array(tokenId), z.array(z.array(tokenId))], {
      error: 'must be a list of token ids, or a list of such lists for a batch',
    })
    .nullish(),
  /** With `return_logprob`: each entry's third item is its token's text (decoded alone). */
  return_text_in_logprobs: z
    .union([z.boolean(), z.array(z.boolean())], {
      error: 'must be a boolean, or a list of booleans for a batch',
    })
    .nullish(),
  /** Run on this data-parallel rank (0-based) instead of the one the router picks. */
  data_parallel_rank: z.number().int().nonnegative().nullish(),
  // SGLang features not served: refused when asked for, not dropped.
  lora_path: onlyOff(null, 'LoRA adapters are not supported'),
  image_data: onlyOff(null, 'image input is not supported'),
  video_data: onlyOff(null, 'video input is not supported'),
  audio_data: onlyOff(null, 'audio input is not supported'),
  custom_logit_processor: onlyOff(null, 'custom logit processors are not supported'),
  return_hidden_states: onlyOff(false, 'hidden states are not returned'),
});
