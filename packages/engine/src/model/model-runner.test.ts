// @module-tag cuda
import { createMemorySaver } from '@ts/memory-saver-native';
import { describe, expect, it } from 'vitest';
import { ByteTokenizer } from '../tokenizer/byte-tokenizer.js';
import { openBuiltinTiny } from './builtin-tiny.js';
import type { SamplingSpec } from './forward-batch.js';
import type { TensorSource } from './loader/tensor-source.js';
import { GreedySequence, LOGPROB_DIGITS, tinyRunner } from './runner.test-helpers.js';
import { loadWeights, overwriteWeights, writeWeightsInPlace } from './weights/load-weights.js';

/** Samples `count` tokens for one prompt with `spec`. */
function generate(
  t: Awaited<ReturnType<typeof tinyRunner>>,
  prompt: number[],
  spec: SamplingSpec,
  count: number,
) {
  const seq = new GreedySequence(t.kv, prompt);
  while (seq.output.length < count) {
    const step = seq.step();
    t.runner.forward([step], t.kv);
    const [id] = t.runner.sample([{ spec, tokenIndex: seq.output.length }]);
    seq.advance(step.tokens.length, id);
  }
  seq.release();
  return seq.output;
}

describe('builtin:tiny', () => {
  it('is a seeded Llama over byte tokens whose weights load into the weights tag with a clean backup', async () => {
    const t = await tinyRunner();
    expect(t.config.vocabSize).toBe(new ByteTokenizer().vocabSize);
    expect(t.saver.stats().weights?.backupBytes).toBeGreaterThan(0);
    const report = await t.saver.pause('weights');
    expect(report.copiedBytes).toBe(0);
    await t.saver.resume('weights');
    const again = await tinyRunner();
    expect(await again.saver.checksum(again.weights.allocation)).toBe(
      await t.saver.checksum(t.weights.allocation),
    );
  });

  it('samples the same tokens for the same seed, other tokens for another seed, greedy when temperature is 0', async () => {
    const t = await tinyRunner();
    const prompt = new ByteTokenizer().encode('Once upon a time');
    const hot = (seed: bigint): SamplingSpec => ({ temperature: 1.5, topK: 0, topP: 1, seed });
    const a = generate(t, prompt, hot(7n), 24);
    expect(generate(t, prompt, hot(7n), 24)).toEqual(a);
    expect(generate(t, prompt, hot(8n), 24)).not.toEqual(a);
    const greedy = generate(t, prompt, { temperature: 0, topK: 0, topP: 1, seed: 1n }, 12);
    expect(generate(t, prompt, { temperature: 0, topK: 0, topP: 1, seed: 2n }, 12)).toEqual(greedy);
    expect(generate(t, prompt, { temperature: 2, topK: 1, topP: 1, seed: 3n }, 12)).toEqual(greedy);
    expect(t.kv.pages.freePages).toBe(64);
  });

  it('samples with logprobs: the same tokens, each with its log-softmax at the temperature it was drawn with', async () => {
    const t = await tinyRunner();
    const tokenizer = new ByteTokenizer();
    const prompts = ['Once upon', 'a time there', 'was'].map((p) => tokenizer.encode(p));
    const specs: SamplingSpec[] = [
      { temperature: 0, topK: 0, topP: 1, seed: 1n },
      { temperature: 0.7, topK: 0, topP: 1, seed: 2n },
      { temperature: 1.5, topK: 5, topP: 0.9, seed: 3n },
    ];
    const pages = prompts.map(() => t.kv.pages.allocate(1));
    const batch = prompts.map((tokens, i) => ({
      tokens,
      cachedTokens: 0,
      pageTable: pages[i] as number[],
    }));
    const requests = specs.map((spec) => ({ spec, tokenIndex: 0 }));
    t.runner.forward(batch, t.kv);
    const logits = t.runner.logits();
    const plain = t.runner.sample(requests);
    const { tokens, logprobs } = t.runner.sampleWithLogprobs(requests);
    expect(tokens).toEqual(plain);
    const vocab = t.config.vocabSize;
    specs.forEach((spec, r) => {
      const scale = spec.temperature > 0 ? 1 / spec.temperature : 1;
      const row = Array.from(logits.subarray(r * vocab, (r + 1) * vocab), (x) => x * scale);
      const max = Math.max(...row);
      const logSum = Math.log(row.reduce((sum, x) => sum + Math.exp(x - max), 0));
      const expected = (row[tokens[r] as number] as number) - max - logSum;
      expect(logprobs[r]).toBeCloseTo(expected, LOGPROB_DIGITS);
      expect(logprobs[r]).toBeLessThanOrEqual(0);
    });
    // The same rows asked by id, and each row's most likely tokens.
    expect(t.runner.sampledRowLogprobs(tokens)).toEqual(logprobs);
    const top = t.runner.sampledTopLogprobs(3);
    expect(top.ids[0]?.[0]).toBe(tokens[0]); // greedy: the best token is the one sampled
    expect(top.logprobs[0]?.[0]).toBe(logprobs[0]);
    expect(() => t.runner.sampledTopLogprobs(0)).toThrow(/k must be in \[1, 64\]/);
    expect(() => t.runner.sampledRowLogprobs([1])).toThrow(/needs 3 ids/);
  });

  it("gives input-token logprobs from extra logits rows, whole or in chunks, as a full pass's logits have them", async () => {
    const t = await tinyRunner(64);
    const prompt = new ByteTokenizer().encode('The quick brown fox jumps');
    const n = prompt.length;
    const pages = t.kv.pages.allocate(2);
    // Reference: logits at every position, log-softmax at the next prompt token.
    t.runner.forward([{ tokens: prompt, cachedTokens: 0, pageTable: pages }], t.kv, true);
    const logits = t.runner.logits();
    const vocab = t.config.vocabSize;
    const expected = prompt.slice(1).map((next, p) => {
      const row = Array.from(logits.subarray(p * vocab, (p + 1) * vocab));
      const max = Math.max(...row);
      return (
        (row[next] as number) - max - Math.log(row.reduce((sum, x) => sum + Math.exp(x - max), 0))
      );
    });
    // Whole: the extra rows are positions 0 .. n-2 (the last row predicts the first output).
    t.runner.forward(
      [
        {
          tokens: prompt,
          cachedTokens: 0,
          pageTable: pages,
          extraLogits: { from: 0, count: n - 2 },
        },
      ],
      t.kv,
    );
    const whole = t.runner.rowLogprobs([0, ...prompt.slice(1, n - 1)]);
    expect(whole.slice(1)).toEqual(
      expected.slice(0, n - 2).map((x) => expect.closeTo(x, LOGPROB_DIGITS)),
    );
    // Two chunks: the first chunk's last row predicts the second chunk's first token.
    const cut = 10;
    t.runner.forward(
      [
        {
          tokens: prompt.slice(0, cut),
          cachedTokens: 0,
          pageTable: pages,
          extraLogits: { from: 0, count: cut - 1 },
        },
      ],
      t.kv,
    );
    const first = t.runner.rowLogprobs([prompt[cut] as number, ...prompt.slice(1, cut)]);
    t.runner.forward(
      [
        {
          tokens: prompt.slice(cut),
          cachedTokens: cut,
          pageTable: pages,
          extraLogits: { from: 0, count: n - cut - 1 },
        },
      ],
      t.kv,
    );
    const second = t.runner.rowLogprobs([0, ...prompt.slice(cut + 1)]);
    const chunked = [...first.slice(1), first[0] as number, ...second.slice(1)];
    expect(chunked).toEqual(expected.map((x) => expect.closeTo(x, LOGPROB_DIGITS)));
    expect(() => t.runner.rowLogprobs([1])).toThrow(/needs \d+ targets/);
    expect(() =>
      t.runner.forward(
        [{ tokens: prompt, cachedTokens: 0, pageTable: pages, extraLogits: { from: 0, count: n } }],
        t.kv,
      ),
    ).toThrow(/must end before the last/);
  });

  it('rejects batches beyond its limits and tokens outside the vocabulary', async () => {
    const t = await tinyRunner();
    const pages = t.kv.pages.allocate(2);
    const seq = (tokens: number[]) => ({ tokens, cachedTokens: 0, pageTable: pages });
    expect(() => t.runner.forward([seq([1, 999])], t.kv)).toThrow(/outside the vocabulary/);
    expect(() =>
      t.runner.forward(
        Array.from({ length: 9 }, () => seq([1])),
        t.kv,
      ),
    ).toThrow(/maxSeqs/);
    expect(() =>
      t.runner.forward([{ tokens: Array(40).fill(1), cachedTokens: 0, pageTable: pages }], t.kv),
    ).toThrow(/needs 3 pages/);
    expect(() => t.runner.logits()).toThrow(/no forward pass/);
    expect(() => t.runner.forward([], t.kv)).toThrow(/at least one sequence/);
  });
});

describe('loadWeights', () => {
  it('frees everything when a tensor cannot be read', async () => {
    const saver = createMemorySaver({ device: 'cpu' });
    const good = openBuiltinTiny().tensors;
    const broken: TensorSource[] = good.map((t, i) =>
      i === 5
        ? {
            ...t,
            read: async () => {
              throw new Error(`${t.name} is truncated`);
            },
          }
        : t,
    );
    await expect(loadWeights(saver, broken, 'float32')).rejects.toThrow(/is truncated/);
    expect(saver.stats().weights?.allocations ?? 0).toBe(0);
  });

  it('after a deferred resume, a replacement writes new weights and a clean backup; one that fails part-way keeps the old', async () => {
    const saver = createMemorySaver({ device: 'cpu' });
    const tensors = openBuiltinTiny().tensors;
    const weights = await loadWeights(saver, tensors, 'float32');
    saver.setDeferredRestore(weights.allocation, true);
    const contents = async () => {
      const out = new Uint8Array(weights.allocation.size);
      await saver.copyToHost(weights.allocation, out);
      return Buffer.from(out).toString('base64');
    };
    const original = await contents();
    const negated: TensorSource[] = tensors.map((t) => ({
      ...t,
      read: async (into) => {
        await t.read(into);
        const values = new Float32Array(into.buffer, into.byteOffset, into.byteLength / 4);
        for (let i = 0; i < values.length; i++) values[i] = -(values[i] as number);
      },
    }));
    const failing: TensorSource[] = negated.map((t, i) =>
      i === 7 ? { ...t, read: async () => Promise.reject(new Error('disk gone')) } : t,
    );
    await saver.pause('weights');
    await saver.resume('weights');
    expect(saver.restorePending(weights.allocation)).toBe(true);
    await expect(overwriteWeights(saver, weights, failing)).rejects.toThrow('disk gone');
    expect(saver.restorePending(weights.allocation)).toBe(false);
    expect(await contents()).toBe(original);
    expect((await saver.pause('weights')).copiedBytes).toBe(weights.allocation.size);
    await saver.resume('weights');
    expect(await contents()).toBe(original);
    await overwriteWeights(saver, weights, negated);
    const replaced = await contents();
    expect(replaced).not.toBe(original);
    expect((await saver.pause('weights')).copiedBytes).toBe(0);
    await saver.resume('weights');
    expect(await contents()).toBe(replaced);
    const other = createMemorySaver({ device: 'cpu' });
    const direct = await loadWeights(other, negated, 'float32');
    const expected = new Uint8Array(direct.allocation.size);
    await other.copyToHost(direct.allocation, expected);
    expect(replaced).toBe(Buffer.from(expected).toString('base64'));
  });

  it('writes some weights in place, restoring the rest first when a restore is pending', async () => {
    const saver = createMemorySaver({ device: 'cpu' });
    const tensors = openBuiltinTiny().tensors;
    const weights = await loadWeights(saver, tensors, 'bfloat16');
    saver.setDeferredRestore(weights.allocation, true);
    const norm = tensors.find((t) => t.name === 'model.norm.weight') as TensorSource;
    const ones: TensorSource = {
      ...norm,
      read: async (into) => {
        new Float32Array(into.buffer, into.byteOffset, into.byteLength / 4).fill(1);
      },
    };
    const before = new Uint8Array(weights.allocation.size);
    await saver.copyToHost(weights.allocation, before);
    await saver.pause('weights');
    await saver.resume('weights');
    await writeWeightsInPlace(saver, weights, [ones]);
    const after = new Uint8Array(weights.allocation.size);
    await saver.copyToHost(weights.allocation, after);
    const offset = weights.address(norm.name) - Number(weights.allocation.address);
    const bytes = norm.byteLength / 2;
    expect(new Uint16Array(after.buffer, offset, bytes / 2).every((x) => x === 0x3f80)).toBe(true);
    after.set(before.subarray(offset, offset + bytes), offset);
    expect(Buffer.compare(after, before)).toBe(0);
  });

  it('packs q/k/v and gate/up back to back so each group is one matrix', () => {
    const { tensors } = openBuiltinTiny();
    return loadWeights(createMemorySaver({ device: 'cpu' }), tensors, 'bfloat16').then((w) => {
      const q = w.address('model.layers.0.self_attn.q_proj.weight');
      const k = w.address('model.layers.0.self_attn.k_proj.weight');
      const v = w.address('model.layers.0.self_attn.v_proj.weight');
      expect(k - q).toBe(128 * 128 * 2);
      expect(v - k).toBe(64 * 128 * 2);
      const gate = w.address('model.layers.0.mlp.gate_proj.weight');
      expect(w.address('model.layers.0.mlp.up_proj.weight') - gate).toBe(256 * 128 * 2);
      expect(() => w.address('lm_head.weight')).toThrow(/no weight named lm_head.weight/);
    });
  });
});
