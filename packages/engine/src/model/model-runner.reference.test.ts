import { describe, expect, it } from 'vitest';
import {
  confidentPrefix,
  DEVICE,
  expectBfloat16AsReference,
  F32_TOLERANCE,
  GreedySequence,
  generateGreedy,
  loadRunner,
  readExpected,
  relativeError,
} from './runner.test-helpers.js';

// A larger checkpoint with references made by e2e/bench/reference_logits.py (the device run
// uses a Llama-3.2-1B-shaped one); skipped unless TS_REFERENCE_MODEL names its folder.
const dir = process.env.TS_REFERENCE_MODEL;

describe.runIf(dir)(`reference checkpoint ${dir} on ${DEVICE}`, () => {
  const path = dir as string;

  it('float32: logits at every prompt position within tolerance, greedy equal while the reference is sure', async () => {
    const l = await loadRunner(path);
    for (const c of readExpected(path)) {
      const seq = new GreedySequence(l.kv, c.prompt);
      l.runner.forward([seq.step()], l.kv, true);
      const error = relativeError(l.runner.logits(), c.logits);
      console.log(
        `float32, prompt of ${c.prompt.length}: relative error ${error.toExponential(2)}`,
      );
      expect(error).toBeLessThan(F32_TOLERANCE);
      seq.release();
      const expected = confidentPrefix(c.greedy, c.margins, 1e-3);
      const [got] = generateGreedy(l, [c.prompt], c.greedy.length);
      expect(got?.slice(0, expected.length)).toEqual(expected);
    }
  }, 300_000);

  it(
    'bfloat16: no further from float32 than transformers in bfloat16; greedy equal while the reference is sure',
    () => expectBfloat16AsReference(path, (c) => 0.25 * Math.max(...c.margins), console.log),
    300_000,
  );
});
