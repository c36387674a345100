type Json = Record<string, unknown>;

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * How many UTF-16 units of text a Unicode normalization form may fold into one: a composed
 * character takes at most 4 code points (U+1F82 is α and three marks), each at most 2 units;
 * decomposing never shrinks the count of code points.
 */
const NORMALIZATION_FOLD = 8;

/** Normalizers that map text to text at least 1 / factor as long; Infinity when they may drop text. */
function normalizerFold(normalizer: unknown): number {
  if (normalizer === null || normalizer === undefined) return 1;
  if (!isRecord(normalizer)) return Number.POSITIVE_INFINITY;
  switch (normalizer.type) {
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD':
      return NORMALIZATION_FOLD;
    // Lowercasing never shortens a character (checked over every code point in the tests).
    case 'Lowercase':
    case 'Prepend':
      return 1;
    case 'Replace': {
      const pattern = isRecord(normalizer.pattern) ? normalizer.pattern.String : undefined;
      const content = normalizer.content;
      if (typeof pattern !== 'string' || typeof content !== 'string' || content === '')
        return Number.POSITIVE_INFINITY;
      return Math.max(1, pattern.length / content.length);
    }
    case 'Sequence': {
      const steps = Array.isArray(normalizer.normalizers) ? normalizer.normalizers : [];
      return steps.reduce((fold: number, step) => fold * normalizerFold(step), 1);
    }
    default:
      // Strip, StripAccents, BertNormalizer, Precompiled, ...: may remove characters.
      return Number.POSITIVE_INFINITY;
  }
}

/** True when a pre-tokenizer keeps every character (splits, but drops nothing). */
function keepsText(pre: unknown): boolean {
  if (pre === null || pre === undefined) return true;
  if (!isRecord(pre)) return false;
  switch (pre.type) {
    case 'ByteLevel':
    case 'Metaspace':
    case 'Digits':
    case 'UnicodeScripts':
    case 'FixedLength':
      return true;
    case 'Punctuation':
      return pre.behavior !== 'Removed';
    case 'Split':
      return pre.behavior !== 'Removed' && pre.invert !== true;
    case 'Sequence':
      return Array.isArray(pre.pretokenizers) && pre.pretokenizers.every(keepsText);
    default:
      // Whitespace, WhitespaceSplit, BertPreTokenizer, CharDelimiterSplit drop characters.
      return false;
  }
}

/** True when the model turns every piece of text into tokens that hold it (no fused unknowns). */
function modelCovers(model: unknown, has: (token: string) => boolean): boolean {
  if (!isRecord(model) || model.type !== 'BPE') return false;
  const unknownFused = typeof model.unk_token === 'string' && model.fuse_unk === true;
  if (!unknownFused) return true;
  // Byte fallback with all 256 byte tokens: an unknown character becomes bytes, never <unk>.
  if (model.byte_fallback !== true) return false;
  for (let byte = 0; byte < 256; byte++) {
    if (!has(`<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`)) return false;
  }
  return true;
}

/**
 * How much text per character of a token's vocabulary string a `tokenizer.json` tokenizer may
 * take in, or Infinity where no such bound holds. A token holds the (normalized) text it
 * covers in its vocabulary string — byte-level tokens one character per byte, byte-fallback
 * tokens `<0xXX>` for one byte — so only the normalizer may fold text into it; added tokens
 * that strip the whitespace beside them, pre-tokenizers that drop characters, fused unknowns
 * and truncation leave it unbounded. `has` says whether a token string is in the vocabulary.
 */
export function hfTextFold(tokenizerJson: Json, has: (token: string) => boolean): number {
  const added = Array.isArray(tokenizerJson.added_tokens) ? tokenizerJson.added_tokens : [];
  const stripping = added.some((t) => isRecord(t) && (t.lstrip === true || t.rstrip === true));
  const truncating = tokenizerJson.truncation !== null && tokenizerJson.truncation !== undefined;
  if (stripping || truncating) return Number.POSITIVE_INFINITY;
  if (!keepsText(tokenizerJson.pre_tokenizer)) return Number.POSITIVE_INFINITY;
  if (!modelCovers(tokenizerJson.model, has)) return Number.POSITIVE_INFINITY;
  return normalizerFold(tokenizerJson.normalizer);
}

/** The longest token string (at least 2: an unknown character, <unk>, is up to 2 units). */
export function longestToken(tokens: Iterable<string>): number {
  let longest = 2;
  for (const token of tokens) longest = Math.max(longest, token.length);
  return longest;
}

/** The most UTF-16 units of input text one token stands for: the longest token × the fold. */
export function hfTextPerToken(tokenizerJson: Json, vocab: ReadonlySet<string>): number {
  return longestToken(vocab) * hfTextFold(tokenizerJson, (token) => vocab.has(token));
}
