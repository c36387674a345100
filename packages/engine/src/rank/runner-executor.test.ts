// @module-tag cuda
import { PrefixCache, Scheduler, Sequence, samplingParams } from '@ts/scheduler';
import { describe, expect, it } from 'vitest';
import { LOGPROB_DIGITS, tinyRunner } from '../model/runner.test-helpers.js';
import { ByteTokenizer } from '../tokenizer/byte-tokenizer.js';
import { RunnerExecutor } from './runner-executor.js';

/** A scheduler and executor over builtin:tiny, with room for input-token logprobs. */
async function setup() {
  const t = await tinyRunner(64);
  const cache = new PrefixCache(t.kv.pages, 16);
  const scheduler = new Scheduler(t.kv.pages, cache, {
    pageSize: 16,
    maxRunning: 8,
    maxBatchTokens: 256,
    maxInputLogprobRows: 56,
    eosTokenIds: [],
  });
  return { ...t, scheduler, executor: new RunnerExecutor(t.runner, t.kv, t.saver, t.weights) };
}

describe('RunnerExecutor', () => {
  it('returns every kind of logprob a step asked for, consistent with one another', async () => {
    const s = await setup();
    // Different prompts: the same one sent together would wait for the first's prefill.
    const prompt = (text: string) => new ByteTokenizer().encode(`Once upon a ${text}`);
    const params = (extra: Parameters<typeof samplingParams>[0]) =>
      samplingParams({ maxNewTokens: 2, ignoreEos: true, returnLogprob: true, ...extra });
    const scored = new Sequence('scored', prompt('time'), params({ logprobStartLen: 0 }));
    const judged = new Sequence('judged', prompt('hill'), params({ tokenIdsLogprob: [65, 66] }));
    const topped = new Sequence(
      'topped',
      prompt('road'),
      params({ temperature: 0.7, topLogprobsNum: 4 }),
    );
    const plain = new Sequence('plain', prompt('tree'), samplingParams({ maxNewTokens: 2 }));
    for (const seq of [scored, judged, topped, plain]) s.scheduler.add(seq);
    const items = s.scheduler.schedule(true);
    expect(items.map((i) => i.seq.id)).toEqual(['scored', 'judged', 'topped', 'plain']);
    const step = await s.executor.execute(items);
    expect(step.tokens).toHaveLength(4);
    // Input logprobs: one per prompt token after the first, each below 0.
    const input = step.inputLogprobs?.[0] ?? [];
    expect(input).toHaveLength(prompt('time').length - 1);
    for (const value of input) expect(value).toBeLessThan(0);
    expect(step.inputLogprobs?.slice(1)).toEqual([undefined, undefined, undefined]);
    // The chosen ids' logprobs, and the top list: sorted, its best the greedy token's logprob.
    expect(step.tokenIdsLogprobs?.[1]).toHaveLength(2);
    expect(step.tokenIdsLogprobs?.[0]).toBeUndefined();
    const top = step.topLogprobs?.[2];
    expect(top?.ids).toHaveLength(4);
    expect(top?.logprobs).toEqual([...(top?.logprobs ?? [])].sort((a, b) => b - a));
    expect(step.topLogprobs?.[3]).toBeUndefined();
    for (const value of step.logprobs ?? []) expect(value).toBeLessThanOrEqual(0);
    const events = s.scheduler.postprocess(
      items,
      step.tokens,
      step.logprobs,
      step.inputLogprobs,
      step.tokenIdsLogprobs,
      step.topLogprobs,
    );
    expect(events.find((e) => e.seq.id === 'topped')?.topLogprobs).toEqual(top);
    expect(scored.inputLogprobs).toEqual(input);
  });

  it('compares the first input logprob with the runner computing the same row on its own', async () => {
    const s = await setup();
    const prompt = new ByteTokenizer().encode('abc');
    const seq = new Sequence(
      'one',
      prompt,
      samplingParams({ maxNewTokens: 1, returnLogprob: true, logprobStartLen: 1 }),
    );
    s.scheduler.add(seq);
    const items = s.scheduler.schedule(true);
    const step = await s.executor.execute(items);
    // Position 0 scores token 1: its row is the first extra row.
    s.runner.forward(
      [{ tokens: prompt.slice(0, 1), cachedTokens: 0, pageTable: items[0]?.pageTable ?? [] }],
      s.kv,
    );
    const alone = s.runner.rowLogprobs([prompt[1] as number]);
    expect(step.inputLogprobs?.[0]?.[0]).toBeCloseTo(alone[0] as number, LOGPROB_DIGITS);
  });

  it('biases logits and bans end and stop tokens before minNewTokens', async () => {
    const s = await setup();
    const prompt = (text: string) => new ByteTokenizer().encode(`Bias ${text}`);
    const probe = new Sequence('probe', prompt('a'), samplingParams({ maxNewTokens: 1 }));
    s.scheduler.add(probe);
    const greedyFirst = (await s.executor.execute(s.scheduler.schedule(true))).tokens[0] as number;
    const pulled = new Sequence(
      'pulled',
      prompt('b'),
      samplingParams({ maxNewTokens: 1, logitBias: [[65, 100]] }),
    );
    const banned = new Sequence(
      'banned',
      prompt('a'),
      samplingParams({ maxNewTokens: 4, minNewTokens: 2, stopTokenIds: [greedyFirst] }),
    );
    const s2 = await setup();
    s2.scheduler.add(pulled);
    s2.scheduler.add(banned);
    const step = await s2.executor.execute(s2.scheduler.schedule(true));
    expect(step.tokens[0]).toBe(65);
    expect(step.tokens[1]).not.toBe(greedyFirst);
  });
});
