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

// Before min_new_tokens is reached, stop_token_ids are banned in the step's logits: ids outside
// the vocabulary or more entries than a row holds used to fail the whole step, ending other
// clients' requests in it with finish reason abort.
describe('Engine: stop_token_ids and logit_bias are refused before they reach a step', () => {
  const running = { inputIds: [1, 2, 3], samplingParams: { maxNewTokens: 40, ignoreEos: true } };

  it('refuses stop_token_ids outside the vocabulary; the request beside it runs on', async () => {
    const engine = await launch();
    const other = engine.generate(running);
    await expect(
      engine.generate({
        inputIds: [1, 2],
        samplingParams: { maxNewTokens: 10, minNewTokens: 5, stopTokenIds: [258] },
      }),
    ).rejects.toThrow('stop_token_ids must be token ids in [0, 258)');
    expect((await other).metaInfo.finishReason?.type).toBe('length');
  });

  it('refuses more bans and biases than a row holds; the request beside it runs on', async () => {
    const engine = await launch();
    const other = engine.generate(running);
    const stopTokenIds = Array.from({ length: 200 }, (_, i) => i);
    const logitBias = Object.fromEntries(stopTokenIds.map((id) => [String(id + 50), 1]));
    await expect(
      engine.generate({
        inputIds: [1, 2],
        samplingParams: { maxNewTokens: 10, minNewTokens: 5, stopTokenIds, logitBias },
      }),
    ).rejects.toThrow(
      'logit_bias and the stop_token_ids that min_new_tokens bans take at most 300 tokens together, got 200 + 200',
    );
    await expect(
      engine.generate({ inputIds: [1, 2], samplingParams: { maxNewTokens: 4, stopTokenIds } }),
    ).resolves.toBeDefined();
    expect((await other).metaInfo.finishReason?.type).toBe('length');
  });
});
