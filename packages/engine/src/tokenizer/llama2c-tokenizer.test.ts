import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { withTempDir } from '../model/loader/loader.test-helpers.js';
import {
  Llama2cTokenizer,
  loadLlama2cTokenizer,
  parseLlama2cTokenizer,
} from './llama2c-tokenizer.js';
import { encodeTokenizerBin, runCEncode, smallVocab } from './tokenizer.test-helpers.js';

const pieces = smallVocab();
const tokenizer = new Llama2cTokenizer(pieces);
const id = (text: string) => pieces.findIndex((p) => Buffer.from(p.bytes).toString() === text);

describe('Llama2cTokenizer.encode', () => {
  it('adds BOS and the dummy-prefix space, then merges by score', () => {
    expect(tokenizer.encode('the cat')).toEqual([1, id(' the'), id(' cat')]);
    expect(tokenizer.encode('hello', { addSpecialTokens: false })).toEqual([id(' '), id('hello')]);
    expect(tokenizer.encode('')).toEqual([1]);
  });

  it('falls back to <0xXX> byte tokens for characters not in the vocabulary', () => {
    // 'ü' is C3 BC; 'é' is a piece of its own.
    expect(tokenizer.encode('ü', { addSpecialTokens: false })).toEqual([
      id(' '),
      0xc3 + 3,
      0xbc + 3,
    ]);
    expect(tokenizer.encode('é', { addSpecialTokens: false })).toEqual([id(' '), id('é')]);
  });

  it('matches run.c on random text', () => {
    const alphabet = fc.constantFrom(...'the cat hello world!é€ü\n'.split(''), '🎉');
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 40 }), fc.boolean(), (chars, bos) => {
        const text = chars.join('');
        expect(tokenizer.encode(text, { addSpecialTokens: bos })).toEqual(
          runCEncode(pieces, text, bos),
        );
      }),
      { numRuns: 300 },
    );
  });
});

describe('Llama2cTokenizer.decode', () => {
  it('strips the leading space after BOS and round-trips', () => {
    for (const text of ['the cat', 'hello world!!', 'üé 🎉 ok', ' two  spaces', '']) {
      expect(tokenizer.decode(tokenizer.encode(text), { skipSpecialTokens: true })).toBe(text);
    }
    expect(tokenizer.decode([id(' the')])).toBe(' the');
  });

  it('shows or skips <unk>, BOS and EOS', () => {
    const ids = [1, id(' cat'), 2, 0];
    expect(tokenizer.decode(ids)).toBe('\n<s>\ncat\n</s>\n<unk>');
    expect(tokenizer.decode(ids, { skipSpecialTokens: true })).toBe('cat');
    expect(() => tokenizer.decode([9999])).toThrow('token id 9999 is outside the vocabulary');
  });

  it('streams complete characters only, equal to decode in total', () => {
    const ids = tokenizer.encode('the 🎉 cat é');
    const stream = tokenizer.createStreamDecoder({ skipSpecialTokens: true });
    const parts = ids.map((token) => stream.push(token));
    expect(parts).toContain('🎉');
    expect(parts.every((part) => !part.includes('\uFFFD'))).toBe(true);
    expect(parts.join('') + stream.flush()).toBe('the 🎉 cat é');
  });

  it('flushes an incomplete character as U+FFFD', () => {
    const stream = tokenizer.createStreamDecoder();
    expect(stream.push(0xf0 + 3)).toBe('');
    expect(stream.flush()).toBe('\uFFFD');
    expect(stream.push(id('a'))).toBe('a');
  });
});

describe('tokenizer.bin', () => {
  it('parses what the writer wrote, to the end or to vocabSize', async () => {
    const bytes = encodeTokenizerBin(pieces);
    expect(parseLlama2cTokenizer(bytes, 't')).toHaveLength(pieces.length);
    expect(parseLlama2cTokenizer(bytes, 't', 280)).toHaveLength(280);
    await withTempDir(async (dir) => {
      const path = join(dir, 'tokenizer.bin');
      await writeFile(path, bytes);
      const loaded = await loadLlama2cTokenizer(path, pieces.length);
      expect(loaded.vocabSize).toBe(pieces.length);
      expect(loaded.encode('hello world')).toEqual(tokenizer.encode('hello world'));
      await expect(loadLlama2cTokenizer(join(dir, 'none.bin'))).rejects.toThrow(
        'cannot read the tokenizer',
      );
    });
  });

  it('fails naming the file when it is malformed', () => {
    const bytes = encodeTokenizerBin(pieces);
    expect(() => parseLlama2cTokenizer(bytes.subarray(0, 2), 't.bin')).toThrow('t.bin: too short');
    expect(() => parseLlama2cTokenizer(bytes.subarray(0, 33), 't.bin')).toThrow(
      't.bin: truncated in the header of token 2',
    );
    expect(() => parseLlama2cTokenizer(bytes, 't.bin', pieces.length + 1)).toThrow(
      'truncated in the header of token',
    );
    expect(() => parseLlama2cTokenizer(bytes.subarray(0, 16), 't.bin')).toThrow(
      'truncated in the bytes of token 0',
    );
    const wrong = bytes.slice();
    new DataView(wrong.buffer).setInt32(8, 99, true);
    expect(() => parseLlama2cTokenizer(wrong, 't.bin')).toThrow('token 0 has length 99');
    expect(() => parseLlama2cTokenizer(encodeTokenizerBin(pieces.slice(0, 2)), 't.bin')).toThrow(
      'has 2 tokens',
    );
  });

  it('fails when a byte has no <0xXX> token', () => {
    const noBytes = new Llama2cTokenizer(
      pieces.filter((p) => !Buffer.from(p.bytes).toString().startsWith('<0xC3')),
    );
    expect(() => noBytes.encode('ü')).toThrow('no byte token for 0xc3');
  });
});
