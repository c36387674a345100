// @module-tag cuda
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DEVICE,
  F32_TOLERANCE,
  FIXTURES,
  GreedySequence,
  generateGreedy,
  loadRunner,
  readExpected,
  relativeError,
  stories260K,
} from './runner.test-helpers.js';

const ARCHITECTURES = ['llama', 'mistral', 'qwen2', 'qwen3'];

describe.each(ARCHITECTURES)(`%s fixture on ${DEVICE}, float32`, (name) => {
  const dir = resolve(FIXTURES, name);
  const cases = readExpected(dir);

  it('matches the reference logits at every prompt position', async () => {
    const l = await loadRunner(dir);
    for (const c of cases) {
      const seq = new GreedySequence(l.kv, c.prompt);
      l.runner.forward([seq.step()], l.kv, true);
      expect(relativeError(l.runner.logits(), c.logits)).toBeLessThan(F32_TOLERANCE);
      seq.release();
    }
    expect(l.kv.pages.freePages).toBe(l.kv.numPages);
  });

  it('generates the reference greedy tokens, one at a time and all in one batch', async () => {
    const l = await loadRunner(dir);
    for (const c of cases)
      expect(generateGreedy(l, [c.prompt], c.greedy.length)).toEqual([c.greedy]);
    const batched = generateGreedy(
      l,
      cases.map((c) => c.prompt),
      32,
    );
    expect(batched).toEqual(cases.map((c) => c.greedy));
  });

  it('gives the same logits with a cached prefix as without (chunked prefill)', async () => {
    const l = await loadRunner(dir);
    const c = cases.at(-1);
    if (!c) throw new Error('no case');
    const seq = new GreedySequence(l.kv, c.prompt);
    const half = Math.floor(c.prompt.length / 2);
    l.runner.forward([seq.step(half)], l.kv, true);
    const first = l.runner.logits();
    seq.advance(half);
    l.runner.forward([seq.step()], l.kv, true);
    const second = l.runner.logits();
    const joined = new Float32Array(first.length + second.length);
    joined.set(first);
    joined.set(second, first.length);
    expect(relativeError(joined, c.logits)).toBeLessThan(F32_TOLERANCE);
  });
});

describe('stories260K (llama2.c checkpoint, adjacent-pair rotary)', () => {
  it('continues BOS greedily exactly as the reference, for 64 tokens', async () => {
    const [c] = readExpected(resolve(FIXTURES, 'stories260K'));
    if (!c) throw new Error('no case');
    const l = await loadRunner(stories260K());
    const seq = new GreedySequence(l.kv, c.prompt);
    l.runner.forward([seq.step()], l.kv, true);
    expect(relativeError(l.runner.logits(), c.logits)).toBeLessThan(F32_TOLERANCE);
    seq.release();
    expect(generateGreedy(l, [c.prompt], 64)).toEqual([c.greedy]);
  });
});
