// @module-tag cuda
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GREEDY } from './forward-batch.js';
import {
  DEVICE,
  F32_TOLERANCE,
  FIXTURES,
  GreedySequence,
  type Loaded,
  loadRunner,
  relativeError,
} from './runner.test-helpers.js';

/** Greedy decode of prompts that stop at different lengths, so the batch shrinks as it goes. */
function generate(l: Loaded, prompts: number[][], counts: number[]) {
  const seqs = prompts.map((p) => new GreedySequence(l.kv, p));
  let lastLogits: Float32Array = new Float32Array();
  for (;;) {
    const active = seqs.filter((s, i) => s.output.length < (counts[i] as number));
    if (active.length === 0) break;
    const steps = active.map((s) => s.step());
    l.runner.forward(steps, l.kv);
    if (active.length === 1) lastLogits = l.runner.logits();
    const ids = l.runner.sample(active.map((s) => ({ spec: GREEDY, tokenIndex: s.output.length })));
    for (const [i, s] of active.entries()) s.advance(steps[i]?.tokens.length ?? 0, ids[i]);
  }
  for (const s of seqs) s.release();
  return { outputs: seqs.map((s) => s.output), lastLogits };
}

const prompts = [
  [1, 15, 27, 3],
  [1, 9, 9, 40, 2, 7],
  [1, 33],
];
const counts = [12, 5, 9];

describe(`decode graphs (${DEVICE})`, () => {
  it('are on by default and can be turned off', async () => {
    const l = await loadRunner(resolve(FIXTURES, 'llama'));
    expect(l.runner.graphsEnabled).toBe(true);
    l.runner.graphsEnabled = false;
    generate(l, prompts, counts);
    expect(l.runner.graphStats).toEqual({ captures: 0, replays: 0, failures: 0 });
  });

  it('give the tokens and logits of eager steps as the batch shrinks, and replay after a release with no new capture', async () => {
    const l = await loadRunner(resolve(FIXTURES, 'llama'));
    l.runner.graphsEnabled = false;
    const eager = generate(l, prompts, counts);
    l.runner.graphsEnabled = true;
    const graphed = generate(l, prompts, counts);
    expect(graphed.outputs).toEqual(eager.outputs);
    expect(relativeError(graphed.lastLogits, eager.lastLogits)).toBeLessThan(F32_TOLERANCE);
    const stats = { ...l.runner.graphStats };
    // 4 decode steps of 3 sequences (padded to 4), 4 of 2, 3 of 1: each size runs its
    // first step as launches and captures it, then replays
    expect(stats).toEqual({ captures: 3, replays: 3 + 3 + 2, failures: 0 });
    // Every tag: the weights come back from their backup, the KV and the workspace (with the
    // kernels' scratch) are mapped again at the same addresses, so each graph still holds.
    await l.saver.pause();
    await l.saver.resume();
    const again = generate(l, prompts, counts);
    expect(again.outputs).toEqual(eager.outputs);
    expect(l.runner.graphStats).toEqual({ captures: 3, replays: 8 + 11, failures: 0 });
  });
});
