import { describe, expect, it } from 'vitest';
import { DEVICE } from '../model/runner.test-helpers.js';
import { engineLauncher } from './engine.test-helpers.js';

const launch = engineLauncher({
  model: 'builtin:tiny',
  device: DEVICE,
  numPages: 64,
  pageSize: 16,
  maxContext: 131_072,
});

// Over 32 KiB: tokenized in the tokenizer thread, so the request waits there a while.
const long = 'a'.repeat(100_000);

describe('Engine: requests while their prompts are tokenized', () => {
  it('holds the rid: a second request with it is refused, an abort ends the first', async () => {
    const engine = await launch();
    const first = engine.generate({ text: long, rid: 'r' });
    await expect(engine.generate({ inputIds: [1], rid: 'r' })).rejects.toThrow(
      'a request with rid r is already in flight',
    );
    expect(await engine.abortRequest('r')).toEqual({ success: true, message: 'aborting r' });
    expect((await first).metaInfo.finishReason).toEqual({
      type: 'abort',
      message: 'aborted before it reached a rank',
    });
  });

  it('counts them in abort_all and in the samples of a base rid', async () => {
    const engine = await launch();
    const samples = [0, 1].map((j) => engine.generate({ text: long, rid: `g-${j}` }));
    expect((await engine.abortRequest('g')).message).toBe('aborting g-0, g-1');
    const other = engine.generate({ text: long, rid: 'h' });
    // g-0 and g-1 are still being tokenized: in flight, aborted already.
    expect((await engine.abortAllRequests()).message).toBe('aborting 3 requests');
    for (const out of await Promise.all([...samples, other]))
      expect(out.metaInfo.finishReason?.type).toBe('abort');
  });

  it('ends one whose caller went away, refuses one whose engine shut down meanwhile', async () => {
    const engine = await launch();
    const caller = new AbortController();
    const cancelled = engine.generate({ text: long }, { signal: caller.signal });
    caller.abort();
    expect((await cancelled).metaInfo.finishReason?.type).toBe('abort');
    const late = expect(engine.generate({ text: long })).rejects.toThrow('the engine is shut down');
    await engine.shutdown();
    await late;
  });

  it('checks everything but the prompt before tokenizing, and the KV pool after', async () => {
    const engine = await launch();
    const stops = Array.from({ length: 33 }, (_, i) => `s${i}`);
    await expect(engine.generate({ text: long, samplingParams: { stop: stops } })).rejects.toThrow(
      'stop: at most 32 strings, got 33',
    );
    await expect(
      engine.generate({
        text: 'hi',
        returnLogprob: true,
        topLogprobsNum: 64,
        samplingParams: { maxNewTokens: 100_000 },
      }),
    ).rejects.toThrow(/^the reply would hold up to 6600000 entries/);
    await expect(
      engine.generate({ text: long, samplingParams: { maxNewTokens: 1 } }),
    ).rejects.toThrow(
      "prompt (100001 tokens) + max_new_tokens (1) need 6251 KV pages of 16 tokens, more than rank 0's whole KV pool (64 pages, 1024 tokens)",
    );
    await expect(engine.tokenize('a'.repeat(131_073))).rejects.toMatchObject({ statusCode: 413 });
    expect(await engine.tokenize(long, false)).toHaveLength(100_000);
  });
});
