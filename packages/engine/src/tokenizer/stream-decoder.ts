import type { StreamDecoder } from './tokenizer.js';

const REPLACEMENT = '\uFFFD';
/**
 * A UTF-8 character has at most 4 bytes, so text that still ends in U+FFFD after this many held
 * tokens is invalid, not incomplete: it is emitted as it decodes (and the window stays short).
 */
const MAX_HELD = 8;

/**
 * A `StreamDecoder` over any whole-sequence `decode`: it decodes a short window of recent ids
 * with and without the new one and emits the difference once it does not end in U+FFFD (an
 * incomplete UTF-8 character). Decoding with the preceding token as context keeps
 * tokenizer-specific spacing (SentencePiece's leading space, byte-level merges) right. The
 * concatenation of the pieces equals `decode` of all ids when decoding only appends; when a
 * decode rewrites text already emitted (clean_up_tokenization_spaces), the text after the
 * common prefix is emitted, so nothing is lost though some may repeat.
 */
export function createWindowStreamDecoder(
  decode: (ids: readonly number[]) => string,
): StreamDecoder {
  let window: number[] = [];
  let read = 0;
  const emit = (force: boolean): string => {
    const prefix = decode(window.slice(0, read));
    const text = decode(window);
    if (text.length <= prefix.length || (!force && text.endsWith(REPLACEMENT))) return '';
    window = window.slice(read);
    read = window.length;
    return text.startsWith(prefix)
      ? text.slice(prefix.length)
      : text.slice(commonPrefix(prefix, text));
  };
  return {
    push(id) {
      window.push(id);
      return emit(window.length - read >= MAX_HELD);
    },
    flush() {
      const text = emit(true);
      window = [];
      read = 0;
      return text;
    },
  };
}

function commonPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}
