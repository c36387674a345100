import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { KvPool } from '@ts/kv-pool';
import { createMemorySaver, createOps, type MemorySaver } from '@ts/memory-saver-native';
import { expect } from 'vitest';
import { openBuiltinTiny } from './builtin-tiny.js';
import type { ForwardSequence } from './forward-batch.js';
import { GREEDY } from './forward-batch.js';
import type { OpenedCheckpoint } from './loader/open-checkpoint.js';
import { openCheckpoint } from './loader/open-checkpoint.js';
import type { TensorDtype } from './loader/tensor-source.js';
import { ModelRunner } from './model-runner.js';
import { loadWeights } from './weights/load-weights.js';

const repo = resolve(import.meta.dirname, '../../../..');

/** The backend under test: the CPU in CI; the device machine sets TS_DEVICE=cuda. */
export const DEVICE = process.env.TS_DEVICE === 'cuda' ? 'cuda' : 'cpu';
/** float32 logits: 1e-4 relative on the CPU; 1e-3 on CUDA (other summation orders). */
export const F32_TOLERANCE = DEVICE === 'cuda' ? 1e-3 : 1e-4;
/** Digits logprobs must share with a float64 reference (toBeCloseTo): CUDA sums in other orders. */
export const LOGPROB_DIGITS = DEVICE === 'cuda' ? 3 : 4;
export const FIXTURES = resolve(repo, 'e2e/fixtures/models');
export { stories260K } from './loader/loader.test-helpers.js';

export interface FixtureCase {
  prompt: number[];
  logits: Float32Array;
  greedy: number[];
  /** The reference's gap between its two best logits at each greedy step. */
  margins: number[];
}

export function readExpected(dir: string, file = 'expected.json'): FixtureCase[] {
  const json = JSON.parse(readFileSync(resolve(dir, file), 'utf8')) as {
    cases: { prompt: number[]; logits: string; greedy: number[]; greedy_margins: number[] }[];
  };
  return json.cases.map((c) => {
    const bytes = Buffer.from(c.logits, 'base64');
    const logits = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4).slice();
    return { prompt: c.prompt, logits, greedy: c.greedy, margins: c.greedy_margins };
  });
}

/** The greedy tokens up to the first step where the reference's top two were closer than minMargin. */
export function confidentPrefix(tokens: number[], margins: number[], minMargin: number): number[] {
  const cut = margins.findIndex((m) => m < minMargin);
  return tokens.slice(0, cut === -1 ? tokens.length : cut);
}

/**
 * bfloat16 rounds every activation to 8 bits of mantissa: two bfloat16 runs differ from each
 * other by about as much as each differs from float32 (1-3% on these models), so the check is
 * that ours is no further from float32 than transformers' own bfloat16 run is, and that greedy
 * tokens agree while the reference's top two are at least `minMargin(case)` apart.
 */
export async function expectBfloat16AsReference(
  dir: string,
  minMargin: (c: FixtureCase) => number,
  report: (line: string) => void = () => {},
): Promise<void> {
  const l = await loadRunner(dir, 'bfloat16');
  const exact = readExpected(dir);
  for (const [i, c] of readExpected(dir, 'expected.bfloat16.json').entries()) {
    const reference = exact[i]?.logits ?? new Float32Array();
    const seq = new GreedySequence(l.kv, c.prompt);
    l.runner.forward([seq.step()], l.kv, true);
    const logits = l.runner.logits();
    const ours = relativeError(logits, reference);
    const theirs = relativeError(c.logits, reference);
    report(
      `bfloat16, prompt of ${c.prompt.length}: vs float32 ours ${ours.toExponential(2)}, ` +
        `transformers ${theirs.toExponential(2)}; ours vs transformers' bfloat16 ` +
        `${relativeError(logits, c.logits).toExponential(2)}`,
    );
    expect(ours).toBeLessThan(1.25 * theirs + 0.005);
    seq.release();
    const expected = confidentPrefix(c.greedy, c.margins, minMargin(c));
    const [got] = generateGreedy(l, [c.prompt], c.greedy.length);
    expect(got?.slice(0, expected.length)).toEqual(expected);
  }
}

/** max |a - b| / max |b|: one number per comparison, insensitive to tiny reference values. */
export function relativeError(actual: Float32Array, expected: Float32Array): number {
  if (actual.length !== expected.length)
    throw new Error(`lengths differ: ${actual.length} vs ${expected.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs((actual[i] as number) - (expected[i] as number)));
    scale = Math.max(scale, Math.abs(expected[i] as number));
  }
  return diff / scale;
}

export interface Loaded {
  saver: MemorySaver;
  runner: ModelRunner;
  kv: KvPool;
  checkpoint: OpenedCheckpoint;
}

/** A runner over a checkpoint on the backend under test, with a small-paged KV pool. */
export async function loadRunner(
  path: string,
  dtype: TensorDtype = 'float32',
  pageSize = 4,
): Promise<Loaded> {
  const saver = createMemorySaver({ device: DEVICE });
  const checkpoint = await openCheckpoint(path);
  const weights = await loadWeights(saver, checkpoint.tensors, dtype);
  await checkpoint.close();
  const c = checkpoint.config;
  const kv = await KvPool.create(saver, {
    name: 'target',
    numLayers: c.numLayers,
    kvHeads: c.numKvHeads,
    headDim: c.headDim,
    pageSize,
    numPages: 256,
    dtype,
  });
  const runner = await ModelRunner.create(saver, createOps(saver), c, weights, {
    maxTokens: 128,
    maxSeqs: 8,
    maxPagesPerSeq: 64,
    maxLogitRows: 128,
    workspaceTag: 'cuda_graph',
  });
  return { saver, runner, kv, checkpoint };
}

/** A sequence being generated greedily, holding its own pages. */
export class GreedySequence {
  readonly pages: number[] = [];
  readonly output: number[] = [];
  cached = 0;
  private pending: number[];

  constructor(
    private readonly kv: KvPool,
    prompt: readonly number[],
  ) {
    this.pending = [...prompt];
  }

  /** The next step's input; `limit` caps how many pending tokens go in (chunked prefill). */
  step(limit = Number.POSITIVE_INFINITY): ForwardSequence {
    const tokens = this.pending.slice(0, limit);
    const needed = Math.ceil((this.cached + tokens.length) / this.kv.shape.pageSize);
    if (needed > this.pages.length)
      this.pages.push(...this.kv.pages.allocate(needed - this.pages.length));
    return { tokens, cachedTokens: this.cached, pageTable: this.pages };
  }

  /** After a pass: `sampled` is this sequence's new token when its whole input went in. */
  advance(computed: number, sampled?: number): void {
    this.cached += computed;
    this.pending = this.pending.slice(computed);
    if (this.pending.length === 0 && sampled !== undefined) {
      this.output.push(sampled);
      this.pending = [sampled];
    }
  }

  release(): void {
    this.kv.pages.release(this.pages);
    this.pages.length = 0;
  }
}

/** Greedy generation of `count` tokens for each prompt, all in one batch per step. */
export function generateGreedy(l: Loaded, prompts: readonly number[][], count: number): number[][] {
  const seqs = prompts.map((p) => new GreedySequence(l.kv, p));
  while (seqs.some((s) => s.output.length < count)) {
    const active = seqs.filter((s) => s.output.length < count);
    const steps = active.map((s) => s.step());
    l.runner.forward(steps, l.kv);
    const ids = l.runner.sample(active.map((s) => ({ spec: GREEDY, tokenIndex: s.output.length })));
    for (const [i, s] of active.entries()) s.advance(steps[i]?.tokens.length ?? 0, ids[i]);
  }
  for (const s of seqs) s.release();
  return seqs.map((s) => s.output);
}

/** builtin:tiny (float32, on DEVICE) in a runner, with a 64-page KV pool of 16-token pages. */
export async function tinyRunner(maxLogitRows?: number) {
  const saver = createMemorySaver({ device: DEVICE });
  const checkpoint = openBuiltinTiny();
  const c = checkpoint.config;
  const weights = await loadWeights(saver, checkpoint.tensors, 'float32');
  const kv = await KvPool.create(saver, {
    name: 'target',
    numLayers: c.numLayers,
    kvHeads: c.numKvHeads,
    headDim: c.headDim,
    pageSize: 16,
    numPages: 64,
    dtype: 'float32',
  });
  const runner = await ModelRunner.create(saver, createOps(saver), c, weights, {
    maxTokens: 256,
    maxSeqs: 8,
    maxPagesPerSeq: 16,
    ...(maxLogitRows ? { maxLogitRows } : {}),
  });
  return { saver, weights, kv, runner, config: c };
}
