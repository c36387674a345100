// @module-tag cuda
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openCheckpoint } from '../model/loader/open-checkpoint.js';
import { DEVICE, FIXTURES, readExpected } from '../model/runner.test-helpers.js';
import { promptOf, type RankHarness, startRank } from './rank.test-helpers.js';

let h: RankHarness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

function rssBytes(): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) * 1024;
}

describe(`a rank serving builtin:tiny on ${DEVICE}`, () => {
  it('gives the same greedy tokens alone, in a batch of 16, from the prefix cache, after retraction, and after sleep/wake (rule 12)', async () => {
    h = await startRank();
    const prompt = promptOf(40, 1);
    const alone = await h.generate('alone', prompt, 24);
    expect(alone).toHaveLength(24);

    const batch = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        h?.generate(`b${i}`, i === 7 ? prompt : promptOf(20 + i, i + 2), 24),
      ),
    );
    expect(batch[7]).toEqual(alone);
    expect(h.rank.cache?.size).toBeGreaterThan(0);

    const cached = await h.generate('cached', prompt, 24);
    expect(cached).toEqual(alone);

    expect((await h.rank.loop.releaseMemory()).success).toBe(true);
    expect(h.saver.stats().kv_cache?.residentBytes).toBe(0);
    expect(h.saver.stats().weights?.residentBytes).toBe(0);
    expect((await h.rank.loop.resumeMemory()).success).toBe(true);
    expect(await h.generate('after-wake', prompt, 24)).toEqual(alone);
    await h.stop();

    // Nothing kept for growth: all four run at once and run out of pages (retraction).
    h = await startRank({
      numPages: 14,
      pageSize: 8,
      maxBatchTokens: 64,
      scheduleConservativeness: 0,
    });
    const squeezed = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        h?.generate(`s${i}`, i === 0 ? prompt : promptOf(30, i + 9), 24),
      ),
    );
    expect(squeezed[0]).toEqual(alone);
    expect(h.events.some((e) => e.seq.retractions > 0)).toBe(true);
  });

  it('a request in flight during release and resume finishes with the tokens it would have had', async () => {
    h = await startRank();
    const prompt = promptOf(30, 3);
    const expected = await h.generate('ref', prompt, 40);
    await h.rank.loop.flushCache();
    const inFlight = h.generate('inflight', prompt, 40);
    await new Promise((r) => setTimeout(r, 5));
    await h.rank.loop.releaseMemory();
    await h.rank.loop.resumeMemory(['weights']);
    await h.rank.loop.resumeMemory(['kv_cache', 'cuda_graph']);
    expect(await inFlight).toEqual(expected);
  });

  it('soak: 200 cycles of submit, release all, resume all: nothing lost or duplicated, no page leaked, memory flat', async () => {
    h = await startRank({ numPages: 128 });
    const finished: string[] = [];
    const pending: Promise<void>[] = [];
    let rssAfterWarmup = 0;
    let seed = 12345;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    for (let cycle = 0; cycle < 200; cycle++) {
      for (let r = 0; r < 3; r++) {
        const id = `c${cycle}r${r}`;
        const harness = h;
        pending.push(
          harness
            .generate(
              id,
              promptOf(4 + Math.floor(random() * 20), cycle * 3 + r),
              1 + Math.floor(random() * 6),
            )
            .then(() => {
              finished.push(id);
            }),
        );
      }
      await new Promise((r) => setTimeout(r, Math.floor(random() * 3)));
      const release = await h.rank.loop.releaseMemory();
      expect(release.success).toBe(true);
      if (random() < 0.5) await new Promise((r) => setImmediate(r));
      expect((await h.rank.loop.resumeMemory()).success).toBe(true);
      if (cycle === 20) rssAfterWarmup = rssBytes();
    }
    await Promise.all(pending);
    expect(finished).toHaveLength(600);
    expect(new Set(finished).size).toBe(600);
    const kv = h.rank.kv;
    expect(kv.pages.freePages + (h.rank.cache?.size ?? 0)).toBe(kv.numPages);
    h.rank.cache?.reset();
    expect(kv.pages.freePages).toBe(kv.numPages);
    expect(rssBytes() - rssAfterWarmup).toBeLessThan(32 * 1024 * 1024);
  }, 30_000);
});

describe.runIf(DEVICE === 'cuda')('a rank on CUDA: the driver sees the memory go back', () => {
  it('after releasing every tag, free device memory is within 64 MiB of where it was before the engine allocated', async () => {
    h = await startRank({ numPages: 4096, pageSize: 16 });
    const before = await h.generate('a', promptOf(64, 1), 32);
    expect(h.freeAtStart - h.saver.deviceMemory().free).toBeGreaterThan(64 * 1024 * 1024);
    expect((await h.rank.loop.releaseMemory()).success).toBe(true);
    expect(Math.abs(h.freeAtStart - h.saver.deviceMemory().free)).toBeLessThan(64 * 1024 * 1024);
    expect((await h.rank.loop.resumeMemory()).success).toBe(true);
    expect(await h.generate('b', promptOf(64, 1), 32)).toEqual(before);
  });
});

describe('a rank serving the llama fixture', () => {
  it('generates the reference greedy tokens through the scheduler, batched', async () => {
    const dir = resolve(FIXTURES, 'llama');
    const cases = readExpected(dir);
    h = await startRank({ pageSize: 4 }, await openCheckpoint(dir));
    const outputs = await Promise.all(
      cases.map((c, i) => h?.generate(`f${i}`, c.prompt, c.greedy.length)),
    );
    expect(outputs).toEqual(cases.map((c) => c.greedy));
  });
});
