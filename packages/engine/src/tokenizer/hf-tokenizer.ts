import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer as HfLibTokenizer } from '@huggingface/tokenizers';
import { CheckpointError } from '../model/loader/checkpoint-error.js';
import {
  type ChatMessage,
  ChatTemplate,
  type ChatTemplateOptions,
  chatTemplateSource,
} from './chat-template.js';
import { createWindowStreamDecoder } from './stream-decoder.js';
import { hfTextFold, longestToken } from './text-per-token.js';
import type { DecodeOptions, EncodeOptions, StreamDecoder, Tokenizer } from './tokenizer.js';

type Json = Record<string, unknown>;

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A special token in tokenizer_config.json: a string, `{ content }`, or null. */
function tokenText(value: unknown): string | null {
  if (typeof value === 'string') return value;
  return isRecord(value) && typeof value.content === 'string' ? value.content : null;
}

/** True when the tokenizer.json post-processor adds special tokens itself (a template). */
function postProcessorAddsSpecials(tokenizerJson: Json): boolean {
  const processor = tokenizerJson.post_processor;
  if (!isRecord(processor)) return false;
  const steps = Array.isArray(processor.processors) ? processor.processors : [processor];
  return steps.some((step: unknown) => isRecord(step) && step.type !== 'ByteLevel');
}

export interface HfTokenizerOptions {
  /** End-of-generation ids beyond the config's eos_token (e.g. generation_config.json's). */
  readonly extraEosTokenIds?: readonly number[];
}

/**
 * A Hugging Face `tokenizer.json` tokenizer through `@huggingface/tokenizers`, with the
 * special-token settings of `tokenizer_config.json`. BOS is added on `addSpecialTokens` when
 * `add_bos_token` says so — absent, when a `bos_token` is set — unless the tokenizer's own
 * post-processor adds it (the first Llama 3 tokenizer.json had only a ByteLevel post-processor;
 * later ones add BOS with a TemplateProcessing).
 */
export class HfTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosTokenId: number | undefined;
  readonly eosTokenIds: readonly number[];
  readonly bosToken: string | null;
  readonly eosToken: string | null;
  readonly chatTemplate: ChatTemplate | null;
  /** How much text one character of a token stands for (Infinity: unbounded). */
  private readonly textFold: number;
  private textPerToken: number | null = null;
  private readonly addBos: boolean;
  private readonly addEos: boolean;

  private constructor(
    private readonly inner: HfLibTokenizer,
    tokenizerJson: Json,
    config: Json,
    options: HfTokenizerOptions,
  ) {
    let maxId = -1;
    for (const id of inner.get_vocab(true).values()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;
    this.textFold = hfTextFold(tokenizerJson, (token) => inner.token_to_id(token) !== undefined);
    this.bosToken = tokenText(config.bos_token);
    this.eosToken = tokenText(config.eos_token);
    this.bosTokenId = this.bosToken === null ? undefined : inner.token_to_id(this.bosToken);
    const eosId = this.eosToken === null ? undefined : inner.token_to_id(this.eosToken);
    const eos = [...(eosId === undefined ? [] : [eosId]), ...(options.extraEosTokenIds ?? [])];
    this.eosTokenIds = [...new Set(eos)];
    const selfAdding = postProcessorAddsSpecials(tokenizerJson);
    const addBos =
      typeof config.add_bos_token === 'boolean'
        ? config.add_bos_token
        : this.bosTokenId !== undefined;
    this.addBos = addBos && !selfAdding && this.bosTokenId !== undefined;
    this.addEos = config.add_eos_token === true && !selfAdding && eosId !== undefined;
    const template = chatTemplateSource(config);
    this.chatTemplate = template === null ? null : new ChatTemplate(template);
  }

  /** From parsed `tokenizer.json` and `tokenizer_config.json` objects. */
  static fromJson(
    tokenizerJson: unknown,
    tokenizerConfig: unknown = {},
    options: HfTokenizerOptions = {},
  ): HfTokenizer {
    if (!isRecord(tokenizerJson) || !isRecord(tokenizerConfig)) {
      throw new CheckpointError('tokenizer.json and tokenizer_config.json must be JSON objects');
    }
    return new HfTokenizer(
      new HfLibTokenizer(tokenizerJson, tokenizerConfig),
      tokenizerJson,
      tokenizerConfig,
      options,
    );
  }

  /** The longest token × the fold; worked out at the first use (a pass over the vocabulary). */
  get maxTextPerToken(): number {
    this.textPerToken ??= longestToken(this.inner.get_vocab(true).keys()) * this.textFold;
    return this.textPerToken;
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const special = options.addSpecialTokens ?? true;
    const ids = this.inner.encode(text, { add_special_tokens: special }).ids;
    if (!special) return ids;
    const bos = this.bosTokenId;
    const withBos = this.addBos && bos !== undefined && ids[0] !== bos ? [bos, ...ids] : ids;
    const eos = this.eosTokenIds[0];
    return this.addEos && eos !== undefined ? [...withBos, eos] : withBos;
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    if (ids.length === 0) return '';
    return this.inner.decode([...ids], { skip_special_tokens: options.skipSpecialTokens ?? false });
  }

  /** Streams without clean_up_tokenization_spaces, so each step only appends text. */
  createStreamDecoder(options: DecodeOptions = {}): StreamDecoder {
    const skip = options.skipSpecialTokens ?? false;
    return createWindowStreamDecoder((ids) =>
      ids.length === 0
        ? ''
        : this.inner.decode([...ids], {
            skip_special_tokens: skip,
            clean_up_tokenization_spaces: false,
          }),
    );
  }

  /** Renders a chat with the tokenizer's template; fails when tokenizer_config.json has none. */
  applyChatTemplate(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string {
    if (this.chatTemplate === null) throw new Error('this tokenizer has no chat_template');
    return this.chatTemplate.render(messages, {
      bosToken: this.bosToken,
      eosToken: this.eosToken,
      ...options,
    });
  }
}

async function readJson(path: string, required: boolean): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (!required) return {};
    throw new CheckpointError(`${path}: missing (a Hugging Face tokenizer needs it)`, {
      cause: error,
    });
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CheckpointError(`${path}: not valid JSON`, { cause: error });
  }
}

/** Loads `tokenizer.json` (required) and `tokenizer_config.json` (optional) from a directory. */
export async function loadHfTokenizer(
  dir: string,
  options: HfTokenizerOptions = {},
): Promise<HfTokenizer> {
  const tokenizerJson = await readJson(join(dir, 'tokenizer.json'), true);
  const config = await readJson(join(dir, 'tokenizer_config.json'), false);
  return HfTokenizer.fromJson(tokenizerJson, config, options);
}
