// @module-tag cuda
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEVICE, FIXTURES } from '../model/runner.test-helpers.js';
import type { HostTensor, NamedTensor } from '../model/weights/named-tensors.js';
import { ByteTokenizer } from '../tokenizer/byte-tokenizer.js';
import { engineLauncher, flippedCheckpoint, tensorsOf } from './engine.test-helpers.js';

// float32 on either device: these tests compare logprobs across batch shapes to 5 digits,
// which bfloat16 (--dtype auto on a GPU) does not keep.
const launch = engineLauncher({
  model: 'builtin:tiny',
  device: DEVICE,
  dtype: 'float32',
  numPages: 128,
  maxContext: 512,
});

const greedy = (n: number) => ({ maxNewTokens: n, ignoreEos: true });

describe(`Engine on builtin:tiny (${DEVICE}, worker threads)`, () => {
  it('generates from text and from ids alike, and streams cumulative updates', async () => {
    const engine = await launch();
    const fromText = await engine.generate({ text: 'Hello', samplingParams: greedy(12) });
    expect(fromText.outputIds).toHaveLength(12);
    expect(fromText.metaInfo).toMatchObject({
      promptTokens: 6,
      completionTokens: 12,
      finishReason: { type: 'length' },
    });
    const ids = [256, ...Buffer.from('Hello')];
    const fromIds = await engine.generate({ inputIds: ids, samplingParams: greedy(12) });
    expect(fromIds.outputIds).toEqual(fromText.outputIds);
    const chunks = [];
    for await (const chunk of engine.generateStream({ text: 'Hello', samplingParams: greedy(12) }))
      chunks.push(chunk);
    expect(chunks.at(-1)?.outputIds).toEqual(fromText.outputIds);
    expect(chunks.length).toBeGreaterThan(2);
    expect(chunks.at(-1)?.metaInfo.finishReason?.type).toBe('length');
  });

  it("returns each output token's logprob on request, without changing the tokens", async () => {
    const engine = await launch({ dpSize: 2 });
    const hot = { maxNewTokens: 10, ignoreEos: true, temperature: 0.8, seed: 5 };
    const [plain, withLogprob, greedyLogprob] = await Promise.all([
      engine.generate({ text: 'Once', samplingParams: hot }),
      engine.generate({ text: 'Once', samplingParams: hot, returnLogprob: true }),
      engine.generate({ text: 'Once', samplingParams: greedy(10), returnLogprob: true }),
    ]);
    expect(plain.metaInfo.outputTokenLogprobs).toBeUndefined();
    expect(withLogprob.outputIds).toEqual(plain.outputIds);
    const pairs = withLogprob.metaInfo.outputTokenLogprobs ?? [];
    expect(pairs.map(([, id]) => id)).toEqual(withLogprob.outputIds);
    for (const [logprob] of pairs) expect(logprob).toBeLessThanOrEqual(0);
    // The argmax of 257 byte tokens has probability >= 1/257.
    const vocab = engine.modelInfo().vocabSize;
    for (const [logprob] of greedyLogprob.metaInfo.outputTokenLogprobs ?? [])
      expect(logprob).toBeGreaterThanOrEqual(-Math.log(vocab) - 1e-5);
    const again = await engine.generate({
      text: 'Once',
      samplingParams: hot,
      returnLogprob: true,
      returnTextInLogprobs: true,
    });
    // Alone now, in a batch of three before: on a GPU another GEMM kernel may round the last
    // float32 bit differently (bit-equality across batches is rule 14's deterministic mode).
    expect(again.outputIds).toEqual(withLogprob.outputIds);
    expect(again.metaInfo.outputTokenLogprobs?.map(([logprob, id]) => [logprob, id, null])).toEqual(
      pairs.map(([logprob, id]) => [expect.closeTo(logprob, 5), id, null]),
    );
    // Each text is its token decoded alone (byte tokens: one byte each, so not always whole UTF-8).
    const bytes = new ByteTokenizer();
    expect(again.metaInfo.outputTokenLogprobs?.map(([, , text]) => text)).toEqual(
      again.outputIds.map((id) => bytes.decode([id])),
    );
    await expect(
      engine.generate({ text: 'x', returnLogprob: 'yes' as unknown as boolean }),
    ).rejects.toThrow(/return_logprob must be a boolean/);
    // A named data-parallel rank gives the same tokens; a rank past dp-size is refused.
    const onRank1 = await engine.generate({
      text: 'Once',
      samplingParams: hot,
      dataParallelRank: 1,
    });
    expect(onRank1.outputIds).toEqual(plain.outputIds);
    await expect(engine.generate({ text: 'x', dataParallelRank: 2 })).rejects.toThrow(
      /data_parallel_rank must be an integer in \[0, 2\)/,
    );
  });

  it('scores a prompt with max_new_tokens 0: its input logprobs, no output', async () => {
    const engine = await launch();
    const scored = await engine.generate({
      text: 'The quick brown fox',
      samplingParams: { maxNewTokens: 0 },
      returnLogprob: true,
      logprobStartLen: 0,
    });
    expect(scored.outputIds).toEqual([]);
    expect(scored.text).toBe('');
    expect(scored.metaInfo).toMatchObject({
      completionTokens: 0,
      finishReason: { type: 'length' },
    });
    expect(scored.metaInfo.outputTokenLogprobs).toEqual([]);
    const generated = await engine.generate({
      text: 'The quick brown fox',
      samplingParams: greedy(2),
      returnLogprob: true,
      logprobStartLen: 0,
    });
    expect(scored.metaInfo.inputTokenLogprobs).toEqual(generated.metaInfo.inputTokenLogprobs);
  });

  it('returns input-token logprobs alike whole, chunked under a small row budget, and from a cached prompt', async () => {
    const text = 'The quick brown fox jumps over';
    const ask = (logprobStartLen: number) =>
      ({ text, samplingParams: greedy(2), returnLogprob: true, logprobStartLen }) as const;
    const whole = await launch();
    const all = (await whole.generate(ask(0))).metaInfo.inputTokenLogprobs ?? [];
    const ids = [256, ...Buffer.from(text)];
    expect(all.map(([, id]) => id)).toEqual(ids);
    expect(all[0]?.[0]).toBeNull();
    for (const [logprob] of all.slice(1)) expect(logprob).toBeLessThan(0);
    // The prompt is in the prefix cache now: scoring from 5 still computes positions 4 on.
    const cached = (await whole.generate(ask(5))).metaInfo.inputTokenLogprobs ?? [];
    expect(cached).toEqual(
      all.slice(5).map(([l, id]) => [expect.closeTo(l as number, 5), id, null]),
    );
    const chunked = await launch({ maxBatchTokens: 8, maxInputLogprobRows: 3 });
    const fromChunks = (await chunked.generate(ask(0))).metaInfo.inputTokenLogprobs ?? [];
    expect(fromChunks).toEqual(
      all.map(([l, id]) => [l === null ? null : expect.closeTo(l, 5), id, null]),
    );
    await expect(whole.generate({ text, logprobStartLen: 0 })).rejects.toThrow(
      /logprob_start_len needs return_logprob/,
    );
    await expect(whole.generate(ask(ids.length))).rejects.toThrow(/logprob_start_len must be/);
    const off = await launch({ maxInputLogprobRows: 0 });
    await expect(off.generate(ask(0))).rejects.toThrow(/input-token logprobs are off/);
  });

  it("reports chosen ids' logprobs at every output position, the sampled one's equal to its logprob", async () => {
    const engine = await launch();
    for (const samplingParams of [
      greedy(6),
      { maxNewTokens: 6, ignoreEos: true, temperature: 0.8, seed: 3 },
    ]) {
      const plain = await engine.generate({ text: 'Once', samplingParams, returnLogprob: true });
      const first = plain.outputIds[0] as number;
      const judged = await engine.generate({
        text: 'Once',
        samplingParams,
        returnLogprob: true,
        tokenIdsLogprob: [first, 65],
      });
      expect(judged.outputIds).toEqual(plain.outputIds);
      const atFirst = judged.metaInfo.outputTokenIdsLogprobs?.[0] ?? [];
      expect(atFirst.map(([, id]) => id)).toEqual([first, 65]);
      expect(atFirst[0]?.[0]).toBeCloseTo(
        plain.metaInfo.outputTokenLogprobs?.[0]?.[0] as number,
        5,
      );
      expect(judged.metaInfo.outputTokenIdsLogprobs).toHaveLength(6);
    }
    const topped = await engine.generate({
      text: 'Once',
      samplingParams: greedy(4),
      returnLogprob: true,
      topLogprobsNum: 3,
    });
    const greedyRun = await engine.generate({
      text: 'Once',
      samplingParams: greedy(4),
      returnLogprob: true,
    });
    for (const [position, best] of (topped.metaInfo.outputTopLogprobs ?? []).entries()) {
      expect(best).toHaveLength(3);
      // Greedy: the most likely token is the one generated, with its logprob.
      expect(best[0]?.[1]).toBe(greedyRun.outputIds[position]);
      expect(best[0]?.[0]).toBeCloseTo(
        greedyRun.metaInfo.outputTokenLogprobs?.[position]?.[0] as number,
        5,
      );
      expect(best.map(([l]) => l)).toEqual([...best.map(([l]) => l)].sort((a, b) => b - a));
    }
    expect(topped.metaInfo.outputTopLogprobs).toHaveLength(4);
    await expect(engine.generate({ text: 'x', topLogprobsNum: 2 })).rejects.toThrow(
      /top_logprobs_num needs return_logprob/,
    );
    await expect(engine.generate({ text: 'x', tokenIdsLogprob: [1] })).rejects.toThrow(
      /token_ids_logprob needs return_logprob/,
    );
    await expect(
      engine.generate({ text: 'x', returnLogprob: true, tokenIdsLogprob: [999] }),
    ).rejects.toThrow(/token_ids_logprob must be token ids/);
  });

  it('bans stop tokens before min_new_tokens, and biases logits', async () => {
    const engine = await launch();
    const plain = await engine.generate({ text: 'Once', samplingParams: greedy(6) });
    const first = plain.outputIds[0] as number;
    const stopsAtFirst = await engine.generate({
      text: 'Once',
      samplingParams: { ...greedy(6), stopTokenIds: [first] },
    });
    expect(stopsAtFirst.outputIds).toEqual([first]);
    const atLeastThree = await engine.generate({
      text: 'Once',
      samplingParams: { ...greedy(6), stopTokenIds: [first], minNewTokens: 3 },
    });
    expect(atLeastThree.outputIds[0]).not.toBe(first);
    expect(atLeastThree.outputIds.length).toBeGreaterThanOrEqual(3);
    const pushedAway = await engine.generate({
      text: 'Once',
      samplingParams: { ...greedy(1), logitBias: { [first]: -100 } },
    });
    expect(pushedAway.outputIds[0]).not.toBe(first);
    const pulled = await engine.generate({
      text: 'Once',
      samplingParams: { ...greedy(1), logitBias: { 65: 100 } },
    });
    expect(pulled.outputIds).toEqual([65]);
    await expect(
      engine.generate({ text: 'x', samplingParams: { ...greedy(2), minNewTokens: 3 } }),
    ).rejects.toThrow(/min_new_tokens must be an integer in \[0, max_new_tokens \(2\)\]/);
    await expect(
      engine.generate({ text: 'x', samplingParams: { logitBias: { 999: 1 } } }),
    ).rejects.toThrow(/logit_bias must map token ids/);
  });

  it('samples a repeated prompt differently unless a seed is given (a GRPO group)', async () => {
    const engine = await launch();
    const hot = { maxNewTokens: 16, ignoreEos: true, temperature: 1.5 };
    const group = await Promise.all(
      Array.from({ length: 4 }, () => engine.generate({ text: 'Once', samplingParams: hot })),
    );
    expect(new Set(group.map((g) => g.outputIds.join(','))).size).toBeGreaterThan(1);
    const seeded = await Promise.all(
      Array.from({ length: 2 }, () =>
        engine.generate({ text: 'Once', samplingParams: { ...hot, seed: 11 } }),
      ),
    );
    expect(seeded[1]?.outputIds).toEqual(seeded[0]?.outputIds);
    // A bigint seed reaches the rank exact (structured clone), up to 2^64 - 1; a number seed
    // is the same seed as its bigint.
    const big = async (seed: bigint | number) =>
      (await engine.generate({ text: 'Once', samplingParams: { ...hot, seed } })).outputIds;
    const top = 2n ** 64n - 1n;
    expect(await big(top)).toEqual(await big(top));
    expect(await big(11n)).toEqual(seeded[0]?.outputIds);
    await expect(big(2n ** 64n)).rejects.toThrow(/sampling_seed must be an integer in/);
    await expect(big(0.5)).rejects.toThrow('sampling_seed must be an integer');
  });

  it("tokenizes and detokenizes with the model's tokenizer", async () => {
    const engine = await launch();
    const ids = await engine.tokenize('Hi');
    expect(ids).toEqual([256, 72, 105]);
    expect(await engine.tokenize('Hi', false)).toEqual([72, 105]);
    expect(engine.detokenize(ids, true)).toBe('Hi');
    expect(() => engine.detokenize([999])).toThrow(/outside the vocabulary/);
  });

  it('aborts a streamed request when the caller stops reading', async () => {
    const engine = await launch();
    const stream = engine.generateStream({ text: 'Hello', samplingParams: greedy(400) });
    for await (const chunk of stream) if (chunk.outputIds.length > 0) break;
    const metrics = await engine.metrics();
    expect(metrics.runningRequests + metrics.waitingRequests).toBe(0);
    expect(metrics.generatedTokensTotal).toBeLessThan(400);
  });

  it('aborts the n samples of a request by its rid', async () => {
    const engine = await launch();
    const samples = [0, 1, 2].map((j) =>
      engine.generate({ text: 'p', rid: `job-${j}`, samplingParams: greedy(400) }),
    );
    const other = engine.generate({ text: 'p', rid: 'jobless', samplingParams: greedy(400) });
    expect((await engine.abortRequest('job')).message).toBe('aborting job-0, job-1, job-2');
    for (const s of await Promise.all(samples)) expect(s.metaInfo.finishReason?.type).toBe('abort');
    expect(await engine.abortRequest('job.')).toEqual({
      success: true,
      message: 'no request job. in flight: nothing aborted',
    });
    await engine.abortRequest('jobless');
    await other;
  });

  it('aborts every request in flight at once (SGLang abort_all)', async () => {
    const engine = await launch({ dpSize: 2 });
    const running = Array.from({ length: 4 }, (_, i) =>
      engine.generate({ text: `p${i}`, samplingParams: greedy(400) }),
    );
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect((await engine.abortAllRequests()).message).toBe('aborting 4 requests');
    const outputs = await Promise.all(running);
    expect(outputs.map((o) => o.metaInfo.finishReason?.type)).toEqual(new Array(4).fill('abort'));
    expect(
      (await engine.generate({ text: 'p0', samplingParams: greedy(4) })).outputIds,
    ).toHaveLength(4);
  });

  it('rejects bad input with clear messages', async () => {
    const engine = await launch();
    await expect(engine.generate({})).rejects.toThrow(/exactly one of text and input_ids/);
    await expect(engine.generate({ inputIds: [1, 999] })).rejects.toThrow(/outside the vocabulary/);
    await expect(
      engine.generate({ text: 'x', samplingParams: { maxNewTokens: -1 } }),
    ).rejects.toThrow(/max_new_tokens must be an integer >= 0/);
    await expect(
      engine.generate({ text: 'x', samplingParams: { maxNewTokens: 600 } }),
    ).rejects.toThrow(/context length/);
    await expect(engine.generate({ inputIds: [] })).rejects.toThrow(/empty/);
  });

  it('ends at a stop string, leaving it out of the text', async () => {
    const engine = await launch();
    const full = await engine.generate({ text: 'Once', samplingParams: greedy(16) });
    const stop = full.text.slice(3, 5);
    const stopped = await engine.generate({
      text: 'Once',
      samplingParams: { ...greedy(16), stop },
    });
    expect(stopped.metaInfo.finishReason).toEqual({ type: 'stop', matched: stop });
    expect(full.text.startsWith(stopped.text)).toBe(true);
    expect(stopped.text.includes(stop)).toBe(false);
  });

  it('sleeps and wakes through the control API, serving requests that arrived asleep after wake', async () => {
    const engine = await launch();
    const before = await engine.generate({ text: 'abc', samplingParams: greedy(8) });
    expect(await engine.releaseMemoryOccupation()).toMatchObject({
      success: true,
      releasedTags: ['weights', 'kv_cache', 'cuda_graph'],
    });
    expect(await engine.isSleeping()).toMatchObject({ isSleeping: true });
    // Rule 6: continue while released succeeds (slime and miles call it between resuming
    // weights and kv_cache), and nothing runs until every tag is back.
    expect(await engine.continueGeneration()).toEqual({
      success: true,
      message: 'not paused; memory is still released: nothing runs until every tag is resumed',
    });
    const asleep = engine.generate({ text: 'abc', samplingParams: greedy(8) });
    const passes = (await engine.metrics()).forwardPassesTotal;
    expect((await engine.releaseMemoryOccupation({ tags: ['weights'] })).message).toMatch(
      /already released/,
    );
    expect((await engine.resumeMemoryOccupation({ tags: ['weights'] })).releasedTags).toEqual([
      'kv_cache',
      'cuda_graph',
    ]);
    expect((await engine.continueGeneration()).success).toBe(true);
    expect((await engine.metrics()).forwardPassesTotal).toBe(passes);
    expect((await engine.resumeMemoryOccupation()).success).toBe(true);
    expect((await asleep).outputIds).toEqual(before.outputIds);
    expect(await engine.isSleeping()).toMatchObject({ isSleeping: false });
    const metrics = await engine.metrics();
    expect(metrics.releaseSeconds).toHaveLength(1);
    expect(metrics.residentBytesByTag.weights).toBeGreaterThan(0);
  });

  it("holds the steps' workspace in cuda_graph: requests wait until it is resumed too", async () => {
    const engine = await launch();
    const before = await engine.generate({ text: 'abc', samplingParams: greedy(8) });
    expect((await engine.metrics()).residentBytesByTag.cuda_graph).toBeGreaterThan(0);
    await engine.releaseMemoryOccupation({ tags: ['weights', 'kv_cache', 'cuda_graph'] });
    expect((await engine.metrics()).residentBytesByTag.cuda_graph).toBe(0);
    await engine.resumeMemoryOccupation({ tags: ['weights'] });
    await engine.resumeMemoryOccupation({ tags: ['kv_cache'] });
    expect(await engine.isSleeping()).toMatchObject({
      isSleeping: true,
      releasedTags: ['cuda_graph'],
    });
    let served = false;
    const asleep = engine.generate({ text: 'abc', samplingParams: greedy(8) }).finally(() => {
      served = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(served).toBe(false);
    expect((await engine.resumeMemoryOccupation({ tags: ['cuda_graph'] })).success).toBe(true);
    expect((await asleep).outputIds).toEqual(before.outputIds);
  });

  it('dp-size 2: every control call reaches both ranks and their replies merge (rule 11)', async () => {
    const engine = await launch({ dpSize: 2 });
    const outputs = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        engine.generate({ text: `p${i}`, samplingParams: greedy(6) }),
      ),
    );
    expect(outputs.every((o) => o.outputIds.length === 6)).toBe(true);
    const released = await engine.releaseMemoryOccupation({ tags: ['kv_cache'] });
    expect(released).toMatchObject({ success: true, releasedTags: ['kv_cache'] });
    const passes = (await engine.metrics()).forwardPassesTotal;
    expect(passes).toBeGreaterThan(0);
    const failed = await engine.releaseMemoryOccupation({ tags: ['kv_cache'] });
    expect(failed.message).toMatch(/failed on 2 of 2 ranks: rank 0: .*; rank 1: /);
    expect(await engine.isSleeping()).toMatchObject({ isSleeping: true });
    const asleep = engine.generate({ text: 'p0', samplingParams: greedy(6) });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await engine.metrics()).forwardPassesTotal).toBe(passes);
    expect((await engine.resumeMemoryOccupation()).success).toBe(true);
    expect((await asleep).outputIds).toEqual(outputs[0]?.outputIds);
  });
});

describe('the RL loop on the llama fixture', () => {
  it('an update while requests hold KV: no later request reuses KV of the old weights', async () => {
    const dir = resolve(FIXTURES, 'llama');
    const second = flippedCheckpoint(dir);
    // 12 prompt tokens: three whole pages of 4 that the prefix cache could hand out.
    const request = {
      inputIds: [1, 5, 9, 33, 2, 7, 8, 40, 41, 42, 3, 4],
      samplingParams: greedy(12),
    };
    const engine = await launch({ model: dir, pageSize: 4 });
    const inFlight = engine.generate({ ...request, samplingParams: greedy(200) });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect((await engine.pauseGeneration({ mode: 'keep' })).success).toBe(true);
    const updated = await engine.updateWeightsFromDisk({ modelPath: second });
    expect(updated.message).toMatch(/prefix cache reset/);
    expect((await engine.continueGeneration()).success).toBe(true);
    await inFlight;
    const after = await engine.generate(request);
    const fresh = await launch({ model: second, pageSize: 4 });
    expect(after.outputIds).toEqual((await fresh.generate(request)).outputIds);
  });

  it('release all, resume weights, update weights from disk, resume kv_cache: output equals a fresh engine on the new weights', async () => {
    const dir = resolve(FIXTURES, 'llama');
    const second = flippedCheckpoint(dir);
    const request = { inputIds: [1, 5, 9, 33, 2], samplingParams: greedy(16) };
    const engine = await launch({ model: dir, pageSize: 4 });
    const first = await engine.generate(request);
    expect((await engine.releaseMemoryOccupation()).success).toBe(true);
    expect((await engine.updateWeightsFromDisk({ modelPath: second })).success).toBe(true);
    expect((await engine.resumeMemoryOccupation({ tags: ['weights'] })).success).toBe(true);
    const wrong = resolve(FIXTURES, 'qwen3');
    expect((await engine.updateWeightsFromDisk({ modelPath: wrong })).message).toMatch(
      /old weights stay/,
    );
    expect((await engine.updateWeightsFromDisk({ modelPath: second })).success).toBe(true);
    expect(
      (await engine.resumeMemoryOccupation({ tags: ['kv_cache', 'cuda_graph'] })).success,
    ).toBe(true);
    const updated = await engine.generate(request);
    const fresh = await launch({ model: second, pageSize: 4 });
    expect(updated.outputIds).toEqual((await fresh.generate(request)).outputIds);
    expect(updated.outputIds).not.toEqual(first.outputIds);
    expect(first.metaInfo.weightVersion).toBe('default');
    expect(updated.metaInfo.weightVersion).toBe('default');
    const named = await engine.updateWeightsFromDisk({ modelPath: dir, weightVersion: 'step-2' });
    expect(named.success).toBe(true);
    expect(engine.weightVersion()).toBe('step-2');
    expect((await engine.generate(request)).metaInfo.weightVersion).toBe('step-2');
    const failed = await engine.updateWeightsFromDisk({
      modelPath: wrong,
      weightVersion: 'step-3',
    });
    expect(failed.success).toBe(false);
    expect(engine.weightVersion()).toBe('step-2');
    expect(
      (await engine.updateWeightsFromDisk({ modelPath: dir, weightVersion: '' })).message,
    ).toBe('weightVersion must be a non-empty string');
  });

  it('soak: 40 RL cycles at dp-size 2 pushing two checkpoints in turn: each cycle serves its own, memory stays flat', async () => {
    const dir = resolve(FIXTURES, 'llama');
    const request = { inputIds: [1, 5, 9, 33, 2], samplingParams: greedy(8) };
    const engine = await launch({ model: dir, pageSize: 4, dpSize: 2 });
    const checkpoints = [await tensorsOf(dir), await tensorsOf(flippedCheckpoint(dir))];
    const expected = [(await engine.generate(request)).outputIds];
    let rssAfterWarmup = 0;
    for (let cycle = 0; cycle < 40; cycle++) {
      const next = (cycle + 1) % 2;
      expect((await engine.releaseMemoryOccupation()).success).toBe(true);
      expect((await engine.resumeMemoryOccupation({ tags: ['weights'] })).success).toBe(true);
      const pushed = await engine.updateWeightsFromTensors({
        tensors: checkpoints[next] as NamedTensor[],
      });
      expect(pushed.success, pushed.message).toBe(true);
      expect(
        (await engine.resumeMemoryOccupation({ tags: ['kv_cache', 'cuda_graph'] })).success,
      ).toBe(true);
      const [a, b] = await Promise.all([engine.generate(request), engine.generate(request)]);
      expected[next] ??= a.outputIds;
      expect(a.outputIds).toEqual(expected[next]);
      expect(b.outputIds).toEqual(expected[next]);
      if (cycle === 4) rssAfterWarmup = process.memoryUsage().rss;
    }
    expect(expected[0]).not.toEqual(expected[1]);
    expect(process.memoryUsage().rss - rssAfterWarmup).toBeLessThan(64 * 1024 * 1024);
  });

  it('updates weights from tensors in memory: all while kv_cache is released, some in place; mismatches keep the old', async () => {
    const dir = resolve(FIXTURES, 'llama');
    const request = { inputIds: [1, 5, 9, 33, 2], samplingParams: greedy(16) };
    const engine = await launch({ model: dir, pageSize: 4, dpSize: 2 });
    const first = await engine.generate(request);
    const original = await tensorsOf(dir);
    const flipped = await tensorsOf(flippedCheckpoint(dir));
    const embed = original.find((t) => t.name === 'model.embed_tokens.weight') as HostTensor;
    const bad: [NamedTensor[], RegExp][] = [
      [
        [{ ...embed, name: 'model.embed_tokens.weights' }],
        /no parameter model.embed_tokens.weights/,
      ],
      [[{ ...embed, shape: [embed.shape[1] as number, embed.shape[0] as number] }], /has shape/],
      [[{ ...embed, data: embed.data.subarray(4) }], /holds \d+ bytes/],
      [[{ ...embed, dtype: 'int8' as never }], /has dtype int8/],
      [[embed, embed], /given twice/],
      [[], /at least one/],
    ];
    for (const [tensors, message] of bad) {
      const reply = await engine.updateWeightsFromTensors({ tensors });
      expect(reply.success).toBe(false);
      expect(reply.message).toMatch(message);
      expect(reply.message).toMatch(/old weights stay/);
    }
    expect((await engine.generate(request)).outputIds).toEqual(first.outputIds);

    expect((await engine.releaseMemoryOccupation()).success).toBe(true);
    expect((await engine.updateWeightsFromTensors({ tensors: flipped })).success).toBe(true);
    expect((await engine.resumeMemoryOccupation({ tags: ['weights'] })).success).toBe(true);
    const all = await engine.updateWeightsFromTensors({ tensors: flipped });
    expect(all).toMatchObject({ success: true });
    expect(all.message).toMatch(/every weight/);
    expect(
      (await engine.resumeMemoryOccupation({ tags: ['kv_cache', 'cuda_graph'] })).success,
    ).toBe(true);
    const fresh = await launch({ model: flippedCheckpoint(dir), pageSize: 4 });
    const expected = (await fresh.generate(request)).outputIds;
    expect((await engine.generate(request)).outputIds).toEqual(expected);

    // Some tensors: the flipped model with the original embedding is neither model.
    const someReply = await engine.updateWeightsFromTensors({ tensors: [embed] });
    expect(someReply).toMatchObject({
      success: true,
      message: expect.stringMatching(/^1 tensors/),
    });
    const mixed = (await engine.generate(request)).outputIds;
    expect(mixed).not.toEqual(expected);
    expect(mixed).not.toEqual(first.outputIds);
    // views into one flat buffer, as a trainer's flattened parameters would be
    const flat = new Uint8Array(original.reduce((n, t) => n + t.data.byteLength, 0));
    let at = 0;
    const views = original.map((t) => {
      flat.set(t.data, at);
      at += t.data.byteLength;
      return { ...t, data: flat.subarray(at - t.data.byteLength, at) };
    });
    expect((await engine.updateWeightsFromTensors({ tensors: views })).success).toBe(true);
    expect((await engine.generate(request)).outputIds).toEqual(first.outputIds);
    // and the pushed weights survive a full sleep/wake cycle byte for byte
    expect((await engine.releaseMemoryOccupation()).success).toBe(true);
    expect((await engine.resumeMemoryOccupation()).success).toBe(true);
    expect((await engine.generate(request)).outputIds).toEqual(first.outputIds);
  });
});
