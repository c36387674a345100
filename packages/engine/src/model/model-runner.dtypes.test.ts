// @module-tag cuda
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DEVICE,
  expectBfloat16AsReference,
  FIXTURES,
  GreedySequence,
  loadRunner,
  readExpected,
  relativeError,
} from './runner.test-helpers.js';

describe.each(['llama', 'mistral', 'qwen2', 'qwen3'])(
  `%s fixture in half precision on ${DEVICE}`,
  (name) => {
    const dir = resolve(FIXTURES, name);

    it('bfloat16: no further from float32 than transformers in bfloat16; greedy equal while the reference is sure', () =>
      expectBfloat16AsReference(dir, () => 0.25));

    it('float16: logits within 1e-2 of the float32 reference', async () => {
      const l = await loadRunner(dir, 'float16');
      for (const c of readExpected(dir)) {
        const seq = new GreedySequence(l.kv, c.prompt);
        l.runner.forward([seq.step()], l.kv, true);
        expect(relativeError(l.runner.logits(), c.logits)).toBeLessThan(1e-2);
        seq.release();
      }
    });
  },
);
