import { describe, expect, it } from 'vitest';
import { BYTE_BOS_ID, BYTE_EOS_ID, ByteTokenizer } from './byte-tokenizer.js';

describe('ByteTokenizer', () => {
  const tokenizer = new ByteTokenizer();

  it('encodes UTF-8 bytes after BOS', () => {
    expect(tokenizer.vocabSize).toBe(258);
    expect(tokenizer.bosTokenId).toBe(256);
    expect(tokenizer.eosTokenIds).toEqual([257]);
    expect(tokenizer.encode('Hé')).toEqual([BYTE_BOS_ID, 0x48, 0xc3, 0xa9]);
    expect(tokenizer.encode('Hé', { addSpecialTokens: false })).toEqual([0x48, 0xc3, 0xa9]);
  });

  it('decodes, showing or skipping specials', () => {
    const ids = [BYTE_BOS_ID, 0x48, 0x69, BYTE_EOS_ID];
    expect(tokenizer.decode(ids)).toBe('<s>Hi</s>');
    expect(tokenizer.decode(ids, { skipSpecialTokens: true })).toBe('Hi');
    expect(tokenizer.decode(tokenizer.encode('日本 🎉'), { skipSpecialTokens: true })).toBe(
      '日本 🎉',
    );
  });

  it('takes a larger vocabulary whose extra ids decode to nothing', () => {
    const padded = new ByteTokenizer({ vocabSize: 300 });
    expect(padded.decode([0x41, 299, 0x42])).toBe('AB');
    expect(() => padded.decode([300])).toThrow('token id 300 is outside the vocabulary (300)');
    expect(() => tokenizer.decode([-1])).toThrow(RangeError);
    expect(() => new ByteTokenizer({ vocabSize: 100 })).toThrow(
      'vocabSize must be an integer >= 258',
    );
  });

  it('streams whole characters only', () => {
    const stream = tokenizer.createStreamDecoder({ skipSpecialTokens: true });
    const ids = tokenizer.encode('a€🎉');
    expect(ids.map((id) => stream.push(id))).toEqual(['', 'a', '', '', '€', '', '', '', '🎉']);
    expect(stream.flush()).toBe('');
  });
});
