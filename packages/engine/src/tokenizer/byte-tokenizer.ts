import { createWindowStreamDecoder } from './stream-decoder.js';
import type { DecodeOptions, EncodeOptions, StreamDecoder, Tokenizer } from './tokenizer.js';

export const BYTE_BOS_ID = 256;
export const BYTE_EOS_ID = 257;
const SPECIAL_TEXT: Readonly<Record<number, string>> = {
  [BYTE_BOS_ID]: '<s>',
  [BYTE_EOS_ID]: '</s>',
};

/**
 * The built-in tiny model's tokenizer: ids 0–255 are the UTF-8 bytes of the text, 256 is BOS,
 * 257 EOS. `vocabSize` may be larger (a model's padded vocabulary); ids from 258 up decode to
 * nothing.
 */
export class ByteTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosTokenId = BYTE_BOS_ID;
  readonly eosTokenIds: readonly number[] = [BYTE_EOS_ID];
  /** A token is one UTF-8 byte, and a UTF-16 unit takes at least one. */
  readonly maxTextPerToken = 1;

  constructor(options: { vocabSize?: number } = {}) {
    const vocabSize = options.vocabSize ?? 258;
    if (!Number.isSafeInteger(vocabSize) || vocabSize < 258) {
      throw new RangeError(`ByteTokenizer: vocabSize must be an integer >= 258, got ${vocabSize}`);
    }
    this.vocabSize = vocabSize;
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const bytes = [...new TextEncoder().encode(text)];
    return (options.addSpecialTokens ?? true) ? [BYTE_BOS_ID, ...bytes] : bytes;
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    const decoder = new TextDecoder();
    const bytes: number[] = [];
    let text = '';
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new RangeError(
          `ByteTokenizer: token id ${id} is outside the vocabulary (${this.vocabSize})`,
        );
      }
      if (id < 256) {
        bytes.push(id);
        continue;
      }
      const special = SPECIAL_TEXT[id];
      if (special === undefined || options.skipSpecialTokens) continue;
      text += decoder.decode(Uint8Array.from(bytes)) + special;
      bytes.length = 0;
    }
    return text + decoder.decode(Uint8Array.from(bytes));
  }

  createStreamDecoder(options: DecodeOptions = {}): StreamDecoder {
    return createWindowStreamDecoder((ids) => this.decode(ids, options));
  }
}
