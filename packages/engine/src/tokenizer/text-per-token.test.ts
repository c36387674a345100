import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { ByteTokenizer } from './byte-tokenizer.js';
import { type HfTokenizer, loadHfTokenizer } from './hf-tokenizer.js';
import { Llama2cTokenizer } from './llama2c-tokenizer.js';
import { hfTextPerToken } from './text-per-token.js';
import { lenmlModelDir, smallVocab } from './tokenizer.test-helpers.js';

const BYTE_LEVEL_BPE = {
  normalizer: null,
  pre_tokenizer: {
    type: 'Sequence',
    pretokenizers: [
      { type: 'Split', pattern: { Regex: '\\s+' }, behavior: 'Isolated', invert: false },
      { type: 'ByteLevel', add_prefix_space: false },
    ],
  },
  model: { type: 'BPE', unk_token: null, fuse_unk: false },
  added_tokens: [{ content: '<|begin_of_text|>', lstrip: false, rstrip: false }],
};
const KEYS = ['a', 'b', 'abc', '<|begin_of_text|>'];
const BYTES = Array.from(
  { length: 256 },
  (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`,
);

function perToken(changes: Record<string, unknown>, keys: string[] = KEYS): number {
  return hfTextPerToken({ ...BYTE_LEVEL_BPE, ...changes }, new Set(keys));
}

describe('hfTextPerToken', () => {
  it('is the longest vocabulary string for a byte-level BPE without a normalizer', () => {
    expect(perToken({})).toBe(17);
    expect(perToken({ pre_tokenizer: null }, ['a'])).toBe(2);
  });

  it('multiplies by how much the normalizers may fold the text', () => {
    expect(perToken({ normalizer: { type: 'NFC' } })).toBe(17 * 8);
    const sentencePiece = {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: '▁' },
        { type: 'Replace', pattern: { String: ' ' }, content: '▁' },
        { type: 'Lowercase' },
      ],
    };
    expect(perToken({ normalizer: sentencePiece })).toBe(17);
    const folding = { type: 'Replace', pattern: { String: 'abcd' }, content: 'x' };
    expect(perToken({ normalizer: folding })).toBe(17 * 4);
  });

  it('is unbounded wherever text may vanish', () => {
    const unbounded = [
      { normalizer: { type: 'Strip', strip_left: true, strip_right: true } },
      { normalizer: { type: 'Replace', pattern: { String: ' ' }, content: '' } },
      { normalizer: { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' } },
      { normalizer: 'NFC' },
      { pre_tokenizer: { type: 'Whitespace' } },
      { pre_tokenizer: { type: 'Split', pattern: { String: ' ' }, behavior: 'Removed' } },
      { pre_tokenizer: { type: 'Punctuation', behavior: 'Removed' } },
      { pre_tokenizer: 'ByteLevel' },
      { pre_tokenizer: { type: 'Sequence' } },
      { model: { type: 'WordPiece', unk_token: '[UNK]' } },
      { model: { type: 'BPE', unk_token: '<unk>', fuse_unk: true } },
      { model: { type: 'BPE', unk_token: '<unk>', fuse_unk: true, byte_fallback: true } },
      { added_tokens: [{ content: '<mask>', lstrip: true }] },
      { truncation: { max_length: 512 } },
    ];
    for (const changes of unbounded) expect(perToken(changes)).toBe(Number.POSITIVE_INFINITY);
  });

  it('keeps a bound for fused unknowns that byte fallback never produces', () => {
    const model = { type: 'BPE', unk_token: '<unk>', fuse_unk: true, byte_fallback: true };
    const keys = [...KEYS, ...BYTES];
    expect(perToken({ model, pre_tokenizer: { type: 'Metaspace' } }, keys)).toBe(17);
    expect(perToken({ model: { ...model, byte_fallback: false } }, keys)).toBe(
      Number.POSITIVE_INFINITY,
    );
  });
});

describe('the bounds of the tokenizers', () => {
  let llama3: HfTokenizer;
  let qwen3: HfTokenizer;
  beforeAll(async () => {
    [llama3, qwen3] = await Promise.all([
      loadHfTokenizer(lenmlModelDir('llama3')),
      loadHfTokenizer(lenmlModelDir('qwen3')),
    ]);
  }, 30_000);

  it('are 1 for bytes, the longest piece for llama2.c, the longest token (× NFC) for HF', () => {
    expect(new ByteTokenizer().maxTextPerToken).toBe(1);
    expect(new Llama2cTokenizer(smallVocab()).maxTextPerToken).toBe(6); // '\n</s>\n', '<0x00>'
    expect(llama3.maxTextPerToken).toBe(128);
    expect(qwen3.maxTextPerToken).toBe(128 * 8);
  });

  it('hold: no text is longer than its tokens times the bound', () => {
    const tokenizers = [new ByteTokenizer(), new Llama2cTokenizer(smallVocab()), llama3, qwen3];
    const text = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.string({ unit: fc.constantFrom(' ', '\n', 'a', 'é', 'e\u0301', '<|endoftext|>') }),
    );
    fc.assert(
      fc.property(text, (t) => {
        for (const tokenizer of tokenizers) {
          const ids = tokenizer.encode(t, { addSpecialTokens: false });
          expect(t.length).toBeLessThanOrEqual(ids.length * (tokenizer.maxTextPerToken ?? 0));
        }
      }),
      { numRuns: 100 },
    );
    // The longest token is one token.
    expect(llama3.encode(' '.repeat(128), { addSpecialTokens: false })).toHaveLength(1);
  }, 30_000);

  it('rest on Unicode: lowercasing never shortens, a composed character is at most 4 code points', () => {
    let longestComposed = 0;
    const shortened: number[] = [];
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const c = String.fromCodePoint(cp);
      if (c.toLowerCase().length < c.length) shortened.push(cp);
      if (c.normalize('NFC') === c)
        longestComposed = Math.max(longestComposed, [...c.normalize('NFD')].length);
    }
    expect(shortened).toEqual([]);
    expect(longestComposed).toBe(4);
  }, 30_000);
});
