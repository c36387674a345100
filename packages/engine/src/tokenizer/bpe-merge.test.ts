import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mergeByScore } from './bpe-merge.js';

/** run.c's scan: merge the best-scoring adjacent pair, leftmost on ties, until none is left. */
function quadratic(
  tokens: number[],
  lookup: (a: number, b: number) => number,
  score: (id: number) => number,
): number[] {
  const out = [...tokens];
  for (;;) {
    let best = -1e10;
    let at = -1;
    let merged = -1;
    for (let i = 0; i + 1 < out.length; i++) {
      const id = lookup(out[i] as number, out[i + 1] as number);
      if (id !== -1 && score(id) > best) [best, at, merged] = [score(id), i, id];
    }
    if (at < 0) return out;
    out.splice(at, 2, merged);
  }
}

describe('mergeByScore', () => {
  it('matches the quadratic scan, ties included', () => {
    // Ids 0–3 are symbols; a pair (a, b) of ids below 12 merges into 12 + 12a + b when that id
    // is in the random table, whose scores take few distinct values (many ties).
    const table = fc.dictionary(
      fc.integer({ min: 0, max: 143 }).map(String),
      fc.constantFrom(-1, -2, -3, -1e11),
      { maxKeys: 60 },
    );
    fc.assert(
      fc.property(
        table,
        fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 30 }),
        (scores, tokens) => {
          const lookup = (a: number, b: number) => {
            if (a >= 12 || b >= 12) return -1;
            return String(a * 12 + b) in scores ? 12 + a * 12 + b : -1;
          };
          const score = (id: number) => scores[String(id - 12)] as number;
          expect(mergeByScore(tokens, lookup, score)).toEqual(quadratic(tokens, lookup, score));
        },
      ),
      { numRuns: 500 },
    );
  });
});
