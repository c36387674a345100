import { describe, expect, it } from 'vitest';
import { PromptRouter } from './prompt-router.js';

const ranks = (n: number) => Array.from({ length: n }, (_, id) => ({ id, inFlight: 0 }));

describe('PromptRouter', () => {
  it('keeps n samples of a prompt on one rank and spreads distinct prompts by load', () => {
    const r = ranks(2);
    const router = new PromptRouter(r);
    const send = (ids: number[]) => {
      const picked = router.pick(ids);
      picked.rank.inFlight += 1;
      return picked;
    };
    const group = Array.from({ length: 8 }, () => send([1, 2, 3]));
    expect(new Set(group.map((g) => g.rank.id))).toEqual(new Set([0]));
    const others = [send([4]), send([5]), send([6])];
    expect(others.map((o) => o.rank.id)).toEqual([1, 1, 1]);
  });

  it('sends a request to the rank its caller names', () => {
    const r = ranks(3);
    const router = new PromptRouter(r);
    expect(router.pick([1], 2).rank.id).toBe(2);
    expect(router.pick([1]).rank.id).toBe(2); // and its prompt's later samples follow
  });

  it('forgets a prompt once its last request ends, and spills a hot prompt over', () => {
    const r = ranks(2);
    const [a, b] = r as [(typeof r)[0], (typeof r)[0]];
    const router = new PromptRouter(r, 1);
    const first = router.pick([7]);
    first.rank.inFlight += 1;
    first.rank.inFlight -= 1;
    router.done(first.key);
    a.inFlight = 5;
    expect(router.pick([7]).rank.id).toBe(1); // no home left: least loaded
    const hot = new PromptRouter(r, 1);
    a.inFlight = 0;
    b.inFlight = 0;
    const picks = Array.from({ length: 6 }, () => {
      const p = hot.pick([9, 9]);
      p.rank.inFlight += 1;
      return p.rank.id;
    });
    // Followed while its rank holds at most 1x the average + 1, then the other rank takes some.
    expect(picks.filter((id) => id === 1).length).toBeGreaterThan(0);
    expect(picks.filter((id) => id === 0).length).toBeGreaterThan(
      picks.filter((id) => id === 1).length,
    );
  });

  it("sends a conversation's next turn where its last went, not every prompt sharing a system prompt", () => {
    const r = ranks(2);
    const router = new PromptRouter(r);
    const system = Array.from({ length: 64 }, (_, i) => 1000 + i);
    const turn1 = [...system, ...Array.from({ length: 100 }, (_, i) => i)];
    const first = router.pick(turn1);
    expect(first.rank.id).toBe(0);
    // Another conversation's first turn: load moves it to rank 1 (only 64 shared tokens).
    (r[0] as { inFlight: number }).inFlight = 1;
    const other = router.pick([...system, ...Array.from({ length: 100 }, (_, i) => 500 + i)]);
    expect(other.rank.id).toBe(1);
    // Turn 2 extends turn 1 (its first 128 tokens are turn 1's): back to rank 0, though rank 0
    // is not the least loaded now.
    (r[0] as { inFlight: number }).inFlight = 3;
    (r[1] as { inFlight: number }).inFlight = 1;
    const turn2 = router.pick([...turn1, ...Array.from({ length: 60 }, (_, i) => 2000 + i)]);
    expect(turn2.rank.id).toBe(0);
  });
});
