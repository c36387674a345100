import { expect, it } from 'vitest';
import { forEachPassMode, loopPerTest } from './rank-loop.test-helpers.js';
import { expectedOutput } from './scheduler.test-helpers.js';

const prompt = Array.from({ length: 7 }, (_, i) => (i * 5 + 2) % 90);
const start = loopPerTest();

forEachPassMode(
  'RankLoop: a weight-update session (begin_weight_update / end_weight_update)',
  () => {
    it('starts no forward pass from begin to end; requests go on after it, nothing lost', async () => {
      const h = start();
      h.submit('a', prompt, 20);
      await h.settle(3);
      expect(h.loop.beginWeightUpdate()).toEqual({
        success: true,
        message: 'weight update open: no forward pass starts until it ends',
      });
      const passes = h.loop.passes;
      h.submit('b', prompt, 5);
      await h.settle(10);
      expect(h.loop.passes).toBe(passes);
      expect(h.loop.beginWeightUpdate()).toEqual({
        success: false,
        message: 'a weight update is already open',
      });
      expect(h.loop.endWeightUpdate()).toEqual({ success: true, message: 'weight update closed' });
      await h.settle();
      expect(h.finished.get('a')).toEqual(expectedOutput(prompt, 20));
      expect(h.finished.get('b')).toEqual(expectedOutput(prompt, 5));
      expect(h.loop.endWeightUpdate()).toEqual({
        success: false,
        message: 'no weight update is open',
      });
    });
  },
);
