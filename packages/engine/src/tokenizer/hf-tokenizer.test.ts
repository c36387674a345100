import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withTempDir } from '../model/loader/loader.test-helpers.js';
import { HfTokenizer, loadHfTokenizer } from './hf-tokenizer.js';
import { lenmlModelDir } from './tokenizer.test-helpers.js';

const llama3 = await loadHfTokenizer(lenmlModelDir('llama3'), { extraEosTokenIds: [128009] });
const qwen3 = await loadHfTokenizer(lenmlModelDir('qwen3'));

describe('HfTokenizer: Llama 3', () => {
  it('encodes known ids, with BOS when special tokens are added', () => {
    expect(llama3.encode('Hello world', { addSpecialTokens: false })).toEqual([9906, 1917]);
    expect(llama3.encode('Hello world')).toEqual([128000, 9906, 1917]);
    expect(llama3.encode('<|begin_of_text|>Hi')).toEqual([128000, 13347]);
  });

  it('knows its special tokens and vocabulary', () => {
    expect(llama3.vocabSize).toBe(128256);
    expect(llama3.bosTokenId).toBe(128000);
    expect(llama3.eosTokenIds).toEqual([128001, 128009]);
    expect(llama3.bosToken).toBe('<|begin_of_text|>');
  });

  it('decodes, showing or skipping specials', () => {
    const ids = llama3.encode('Hello world');
    expect(llama3.decode(ids)).toBe('<|begin_of_text|>Hello world');
    expect(llama3.decode(ids, { skipSpecialTokens: true })).toBe('Hello world');
    expect(llama3.decode([])).toBe('');
  });
});

describe('HfTokenizer: Qwen3', () => {
  it('encodes known ids and adds no BOS', () => {
    expect(qwen3.encode('Hello world')).toEqual([9707, 1879]);
    expect(qwen3.bosTokenId).toBeUndefined();
    expect(qwen3.eosTokenIds).toEqual([151645]);
    expect(qwen3.encode('<|im_start|>user\nhi<|im_end|>')).toEqual([
      151644, 872, 198, 6023, 151645,
    ]);
  });

  it('round-trips text in several scripts', () => {
    for (const text of ['héllo 世界 🎉', 'def f(x):\n    return x * 2', 'Ünïcödé  spaces ']) {
      expect(qwen3.decode(qwen3.encode(text))).toBe(text);
      expect(llama3.decode(llama3.encode(text), { skipSpecialTokens: true })).toBe(text);
    }
  });
});

describe('HfTokenizer streaming', () => {
  it('emits whole characters only, equal to decode in total', () => {
    for (const tokenizer of [llama3, qwen3]) {
      const text = 'A 🎉 party in 東京, naïve café!';
      const ids = tokenizer.encode(text);
      const stream = tokenizer.createStreamDecoder({ skipSpecialTokens: true });
      const parts = ids.map((id) => stream.push(id));
      expect(parts.some((part) => part.includes('\uFFFD'))).toBe(false);
      expect(parts.join('') + stream.flush()).toBe(text);
    }
  });
});

describe('HfTokenizer configuration', () => {
  it('follows add_bos_token / add_eos_token from tokenizer_config.json', async () => {
    const dir = lenmlModelDir('llama3');
    const json: unknown = JSON.parse(await readFile(join(dir, 'tokenizer.json'), 'utf8'));
    const config = { bos_token: { content: '<|begin_of_text|>' }, eos_token: '<|end_of_text|>' };
    const noBos = HfTokenizer.fromJson(json, { ...config, add_bos_token: false });
    expect(noBos.encode('Hello world')).toEqual([9906, 1917]);
    const both = HfTokenizer.fromJson(json, { ...config, add_eos_token: true });
    expect(both.encode('Hello world')).toEqual([128000, 9906, 1917, 128001]);
    const bare = HfTokenizer.fromJson(json);
    expect(bare.encode('Hello world')).toEqual([9906, 1917]);
    expect(bare.eosTokenIds).toEqual([]);
    expect(() => bare.applyChatTemplate([])).toThrow('no chat_template');
  });

  it('does not add BOS again when the post-processor adds it', async () => {
    const dir = lenmlModelDir('llama3');
    const json = JSON.parse(await readFile(join(dir, 'tokenizer.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    const bos = { id: '<|begin_of_text|>', type_id: 0 };
    json.post_processor = {
      type: 'Sequence',
      processors: [
        { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
        {
          type: 'TemplateProcessing',
          single: [{ SpecialToken: bos }, { Sequence: { id: 'A', type_id: 0 } }],
          pair: [
            { SpecialToken: bos },
            { Sequence: { id: 'A', type_id: 0 } },
            { Sequence: { id: 'B', type_id: 1 } },
          ],
          special_tokens: {
            '<|begin_of_text|>': {
              id: '<|begin_of_text|>',
              ids: [128000],
              tokens: ['<|begin_of_text|>'],
            },
          },
        },
      ],
    };
    const tokenizer = HfTokenizer.fromJson(json, { bos_token: '<|begin_of_text|>' });
    expect(tokenizer.encode('Hello world')).toEqual([128000, 9906, 1917]);
  });

  it('fails naming a missing or malformed file', async () => {
    await withTempDir(async (dir) => {
      await expect(loadHfTokenizer(dir)).rejects.toThrow(`${join(dir, 'tokenizer.json')}: missing`);
      await writeFile(join(dir, 'tokenizer.json'), '{');
      await expect(loadHfTokenizer(dir)).rejects.toThrow('tokenizer.json: not valid JSON');
    });
    expect(() => HfTokenizer.fromJson([], {})).toThrow('must be JSON objects');
  });
});
