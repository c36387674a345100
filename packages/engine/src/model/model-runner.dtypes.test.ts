import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  confidentPrefix,
  DEVICE,
  FIXTURES,
  GreedySequence,
  generateGreedy,
  loadRunner,
  readExpected,
  relativeError,
} from './runner.test-helpers.js';

/** Greedy tokens up to the first step where the reference itself nearly tied. */
describe.each(['llama', 'mistral', 'qwen2', 'qwen3'])(
  `%s fixture in half precision on ${DEVICE}`,
  (name) => {
    const dir = resolve(FIXTURES, name);

    // bfloat16 rounds every activation to 8 bits of mantissa: two bfloat16 runs differ from each
    // other by about as much as each differs from float32 (1-3% here), so the check is that ours
    // is no further from float32 than transformers' own bfloat16 run is.
    it('bfloat16: no further from float32 than transformers in bfloat16; greedy equal while the reference is sure', async () => {
      const l = await loadRunner(dir, 'bfloat16');
      const exact = readExpected(dir);
      for (const [i, c] of readExpected(dir, 'expected.bfloat16.json').entries()) {
        const reference = exact[i]?.logits ?? new Float32Array();
        const seq = new GreedySequence(l.kv, c.prompt);
        l.runner.forward([seq.step()], l.kv, true);
        const ours = relativeError(l.runner.logits(), reference);
        expect(ours).toBeLessThan(1.25 * relativeError(c.logits, reference) + 0.005);
        seq.release();
        const expected = confidentPrefix(c.greedy, c.margins, 0.25);
        const [got] = generateGreedy(l, [c.prompt], c.greedy.length);
        expect(got?.slice(0, expected.length)).toEqual(expected);
      }
    });

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
