import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { INLINE_ENCODE_CHARS } from './input-limits.js';

/** Encodes texts elsewhere (the tokenizer thread) exactly as the tokenizer here would. */
export interface OffThreadEncoder {
  encode(text: string, addSpecialTokens: boolean): Promise<number[]>;
  close(): Promise<void>;
}

/**
 * A model's tokenizer for prompts, without blocking the event loop: texts up to
 * `inlineChars` are encoded here at once, longer ones whole in the tokenizer thread (never in
 * slices, which could split a token). Either way the ids are `tokenizer.encode`'s. Identical
 * long texts in flight (a prompt's n samples) are encoded once and share the ids, which the
 * callers must not change.
 */
export class PromptEncoder {
  private readonly inFlight = new Map<boolean, Map<string, Promise<number[]>>>([
    [true, new Map()],
    [false, new Map()],
  ]);

  constructor(
    readonly tokenizer: Tokenizer,
    private readonly thread: OffThreadEncoder,
    private readonly inlineChars = INLINE_ENCODE_CHARS,
  ) {}

  async encode(text: string, addSpecialTokens = true): Promise<number[]> {
    if (text.length <= this.inlineChars) return this.tokenizer.encode(text, { addSpecialTokens });
    const waiting = this.inFlight.get(addSpecialTokens) as Map<string, Promise<number[]>>;
    const same = waiting.get(text);
    if (same) return same;
    const ids = this.thread.encode(text, addSpecialTokens).finally(() => waiting.delete(text));
    waiting.set(text, ids);
    return ids;
  }

  close(): Promise<void> {
    return this.thread.close();
  }
}
