export interface EncodeOptions {
  /** Add the tokenizer's special tokens (BOS for Llama-style tokenizers). Default true. */
  readonly addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Leave special tokens (BOS, EOS, chat markers) out of the text. Default false. */
  readonly skipSpecialTokens?: boolean;
}

/**
 * Turns token ids into text while tokens arrive one by one. `push` returns the text that the
 * new token completes — never a partial UTF-8 character, so the concatenation of every `push`
 * and the final `flush` equals `decode` of all ids. `flush` returns what is still held back
 * (an incomplete character comes out as U+FFFD) and starts over.
 */
export interface StreamDecoder {
  push(id: number): string;
  flush(): string;
}

/** Text ↔ token ids for one model. Stateless: every method may be called concurrently. */
export interface Tokenizer {
  /** One more than the largest token id. */
  readonly vocabSize: number;
  readonly bosTokenId: number | undefined;
  /** Ids that end generation (EOS, and e.g. Llama 3's <|eot_id|>). */
  readonly eosTokenIds: readonly number[];
  /**
   * The most UTF-16 units of text one token `encode` returns can stand for: a text longer than
   * n times this encodes to more than n tokens, so it is refused without encoding it. Infinity
   * (or absent) where the tokenizer may drop text (normalizers that strip, fused unknowns).
   */
  readonly maxTextPerToken?: number;
  encode(text: string, options?: EncodeOptions): number[];
  decode(ids: readonly number[], options?: DecodeOptions): string;
  createStreamDecoder(options?: DecodeOptions): StreamDecoder;
}
