import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { ByteTokenizer } from '../tokenizer/byte-tokenizer.js';
import { loadHfTokenizer } from '../tokenizer/hf-tokenizer.js';
import { lenmlModelDir } from '../tokenizer/tokenizer.test-helpers.js';
import { type OffThreadEncoder, PromptEncoder } from './prompt-encoder.js';
import { type EncodeReply, encodeReply, serveTokenizer } from './tokenizer-service.js';
import { TokenizerThread, TokenizerThreadError } from './tokenizer-thread.js';

const threads: TokenizerThread[] = [];
afterEach(async () => {
  await Promise.all(threads.splice(0).map((t) => t.close()));
});
function thread(model: string, options: { eager?: boolean; url?: URL } = {}) {
  const t = new TokenizerThread(model, options);
  threads.push(t);
  return t;
}

/** An off-thread encoder that records its texts and answers with the byte tokenizer. */
function recording(): OffThreadEncoder & { texts: string[] } {
  const bytes = new ByteTokenizer();
  const texts: string[] = [];
  return {
    texts,
    encode: async (text, addSpecialTokens) => {
      texts.push(text);
      return bytes.encode(text, { addSpecialTokens });
    },
    close: async () => {},
  };
}

describe('PromptEncoder', () => {
  it('encodes short texts here and long ones elsewhere, one encode per long text in flight', async () => {
    const off = recording();
    const encoder = new PromptEncoder(new ByteTokenizer(), off, 4);
    expect(await encoder.encode('abcd')).toEqual([256, 97, 98, 99, 100]);
    expect(off.texts).toEqual([]);
    const long = 'abcde';
    const [a, b, c] = await Promise.all([
      encoder.encode(long),
      encoder.encode(long),
      encoder.encode(long, false),
    ]);
    expect(a).toEqual([256, 97, 98, 99, 100, 101]);
    expect(b).toBe(a);
    expect(c).toEqual([97, 98, 99, 100, 101]);
    expect(off.texts).toEqual([long, long]);
    await encoder.encode(long);
    expect(off.texts).toHaveLength(3);
    await encoder.close();
  });

  it('rejects as the tokenizer throws, here or elsewhere', async () => {
    const failing: OffThreadEncoder = {
      encode: () => Promise.reject(new Error('no')),
      close: async () => {},
    };
    const tokenizer = new ByteTokenizer();
    tokenizer.encode = () => {
      throw new Error('short');
    };
    const encoder = new PromptEncoder(tokenizer, failing, 4);
    await expect(encoder.encode('ab')).rejects.toThrow('short');
    await expect(encoder.encode('abcdef')).rejects.toThrow('no');
    await expect(encoder.encode('abcdef')).rejects.toThrow('no');
  });
});

describe('the tokenizer service', () => {
  it('answers with the ids (moved) or the error', () => {
    const bytes = new ByteTokenizer();
    expect(encodeReply(bytes, { id: 1, text: 'a', addSpecialTokens: false })).toEqual({
      id: 1,
      ids: Uint32Array.of(97),
    });
    expect(encodeReply(null, { id: 2, text: 'a', addSpecialTokens: true })).toEqual({
      id: 2,
      error: 'this model has no tokenizer',
    });
  });

  it('serves requests in order over a port, and says so when its tokenizer cannot load', async () => {
    const ask = async (model: string, texts: string[]) => {
      const { port1, port2 } = new MessageChannel();
      serveTokenizer(port1, model);
      const replies: EncodeReply[] = [];
      const all = new Promise<void>((resolve) =>
        port2.on('message', (reply: EncodeReply) => {
          replies.push(reply);
          if (replies.length === texts.length) resolve();
        }),
      );
      texts.forEach((text, id) => {
        port2.postMessage({ id, text, addSpecialTokens: true });
      });
      await all;
      port1.close();
      return replies;
    };
    expect(await ask('builtin:tiny', ['a', 'bc'])).toEqual([
      { id: 0, ids: Uint32Array.of(256, 97) },
      { id: 1, ids: Uint32Array.of(256, 98, 99) },
    ]);
    const broken = mkdtempSync(join(tmpdir(), 'ts-bad-tokenizer-'));
    writeFileSync(join(broken, 'tokenizer.json'), 'not json');
    const [failed] = await ask(broken, ['a']);
    expect(failed).toMatchObject({
      id: 0,
      error: expect.stringMatching(/cannot load .*not valid JSON/),
    });
    const [none] = await ask(import.meta.dirname, ['a']);
    expect(none).toEqual({ id: 0, error: 'this model has no tokenizer' });
  });
});

describe('TokenizerThread', () => {
  it("encodes exactly as the model's tokenizer here, in its own thread", async () => {
    const dir = lenmlModelDir('llama3');
    const here = await loadHfTokenizer(dir);
    const t = thread(dir, { eager: true });
    const text = 'Once upon a time, 𝒶 cat said “héllo” 🐈 <|begin_of_text|> 12345\n\n'.repeat(700);
    const [withSpecials, without] = await Promise.all([
      t.encode(text, true),
      t.encode(text, false),
    ]);
    expect(withSpecials).toEqual(here.encode(text));
    expect(without).toEqual(here.encode(text, { addSpecialTokens: false }));
  }, 30_000);

  it('fails its requests when the thread dies, and starts again at the next', async () => {
    const exits = new URL('data:text/javascript,process.exit(3)');
    const t = thread('builtin:tiny', { url: exits });
    const failure = t.encode('a', true);
    await expect(failure).rejects.toBeInstanceOf(TokenizerThreadError);
    await expect(failure).rejects.toThrow('the tokenizer thread exited (code 3)');
    await expect(t.encode('b', true)).rejects.toMatchObject({ statusCode: 503 });
    const throws = new URL('data:text/javascript,throw new Error("bad")');
    await expect(thread('builtin:tiny', { url: throws }).encode('a', true)).rejects.toThrow(
      'the tokenizer thread failed: bad',
    );
  });

  it('fails what waits when closed, and answers errors as rejections', async () => {
    const t = thread('builtin:tiny');
    expect(await t.encode('hi', false)).toEqual([104, 105]);
    const waiting = expect(t.encode('x'.repeat(100_000), true)).rejects.toThrow(
      'the tokenizer thread was closed',
    );
    await t.close();
    await waiting;
    const none = thread(import.meta.dirname);
    await expect(none.encode('a', true)).rejects.toThrow('this model has no tokenizer');
  });
});
