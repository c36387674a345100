// @module-tag cuda
import { describe, expect, it } from 'vitest';
import type { GenerateChunk, GenerateInput, GenerateOutput, SamplingInput } from '../engine-api.js';
import { DEVICE } from '../model/runner.test-helpers.js';
import { createServer } from '../server/create-server.js';
import type { Engine } from './engine.js';
import { engineLauncher } from './engine.test-helpers.js';

// Spec rule 14 (deterministic inference), the rows of issue 17's table on the real engine:
// each row compares the tokens and the logprobs, bit for bit, of the same requests run two
// ways. The CPU backend computes every row of a batch on its own, so every row holds there
// with the option on or off; on CUDA only with it on (batch-invariant GEMMs and attention), in
// float32 and in bfloat16 (the tensor-core GEMM).

const N = 8;
const TOKENS = 48;
/** Eight prompts of 37 to 100 bytes (tokens): each spans pages of 16, for prefix-cache hits. */
const PROMPTS = [
  'Once upon a time, in a land far away, there lived a small grey cat.',
  'The quick brown fox jumps over the lazy dog, and then it runs back home again quickly.',
  'In the beginning the engine computed every row of its batch on its own.',
  'A reinforcement learning loop samples rollouts, scores them, and updates the weights; repeat it.',
  'def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n',
  'Twelve tokens are not enough; this one is longer.',
  '0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ !@#$%^&*() 9876543210',
  'Sleep, wake, pause, continue, retract.',
];

const launchEngine = engineLauncher({
  model: 'builtin:tiny',
  device: DEVICE,
  dtype: 'float32',
  numPages: 256,
  maxContext: 512,
});

const greedy: SamplingInput = { maxNewTokens: TOKENS, ignoreEos: true };

function request(i: number, samplingParams: SamplingInput = greedy): GenerateInput {
  return { text: PROMPTS[i] as string, samplingParams, returnLogprob: true };
}

/** What must be equal: the ids and each logprob's float64 bits. */
interface Bytes {
  ids: number[];
  logprobBits: string[];
}

function bytesOf(out: GenerateOutput): Bytes {
  const logprobs = (out.metaInfo.outputTokenLogprobs ?? []).map(([logprob]) => logprob);
  const bits = new BigUint64Array(new Float64Array(logprobs).buffer);
  return { ids: out.outputIds, logprobBits: [...bits].map((b) => b.toString(16)) };
}

/**
 * Each request that differs between `a` and `b`, with the first output position where the
 * token or the logprob's bits differ: `[]` when the two runs are bitwise identical.
 */
function differences(a: GenerateOutput[], b: GenerateOutput[]): string[] {
  expect(b).toHaveLength(a.length);
  const found: string[] = [];
  a.forEach((out, r) => {
    const x = bytesOf(out);
    const y = bytesOf(b[r] as GenerateOutput);
    const length = Math.max(x.ids.length, y.ids.length, x.logprobBits.length, y.logprobBits.length);
    for (let t = 0; t < length; t++) {
      if (x.ids[t] !== y.ids[t]) {
        found.push(`request ${r}: token ${t} differs (${x.ids[t]} vs ${y.ids[t]})`);
        return;
      }
      if (x.logprobBits[t] !== y.logprobBits[t]) {
        const [p, q] = [out, b[r] as GenerateOutput].map(
          (o) => o.metaInfo.outputTokenLogprobs?.[t]?.[0],
        );
        found.push(`request ${r}: logprob ${t} differs (${p} vs ${q})`);
        return;
      }
    }
  });
  return found;
}

/**
 * The comparison is not vacuous: every output has its TOKENS tokens, each with a finite
 * logprob, and different prompts (or seeds) gave different outputs.
 */
function expectInformative(outputs: GenerateOutput[], tokens = TOKENS): void {
  for (const out of outputs) {
    expect(out.outputIds).toHaveLength(tokens);
    expect(out.metaInfo.outputTokenLogprobs).toHaveLength(tokens);
    for (const [logprob] of out.metaInfo.outputTokenLogprobs ?? [])
      expect(Number.isFinite(logprob) && logprob <= 0).toBe(true);
  }
  const distinct = new Set(outputs.map((o) => bytesOf(o).logprobBits.join(',')));
  expect(distinct.size).toBe(outputs.length);
  // Some position is not a sure thing: a logprob of exactly 0 everywhere would compare nothing.
  expect(outputs.some((o) => o.metaInfo.outputTokenLogprobs?.some(([lp]) => lp < -1e-3))).toBe(
    true,
  );
}

async function oneAtATime(engine: Engine, inputs: GenerateInput[]): Promise<GenerateOutput[]> {
  const outputs: GenerateOutput[] = [];
  for (const input of inputs) outputs.push(await engine.generate(input));
  return outputs;
}

/** All at once; checks that they really shared forward passes (far fewer than one per token each). */
async function atOnce(engine: Engine, inputs: GenerateInput[]): Promise<GenerateOutput[]> {
  const before = (await engine.metrics()).forwardPassesTotal;
  const outputs = await Promise.all(inputs.map((input) => engine.generate(input)));
  const passes = (await engine.metrics()).forwardPassesTotal - before;
  const tokens = inputs.reduce((n, input) => n + (input.samplingParams?.maxNewTokens ?? TOKENS), 0);
  expect(passes).toBeLessThan(tokens / 2);
  return outputs;
}

/** Streams `inputs` at once; `started` resolves once each has `k` tokens, `done` with the outputs. */
function streamedAtOnce(engine: Engine, inputs: GenerateInput[], k: number) {
  const streams = inputs.map((input) => {
    const it = engine.generateStream(input)[Symbol.asyncIterator]();
    let last: GenerateChunk | undefined;
    const started = (async () => {
      while ((last?.outputIds.length ?? 0) < k) {
        const step = await it.next();
        if (step.done) break;
        last = step.value;
      }
    })();
    const done = started.then(async () => {
      for (let step = await it.next(); !step.done; step = await it.next()) last = step.value;
      return last as GenerateOutput;
    });
    return { started, done };
  });
  return {
    started: Promise.all(streams.map((s) => s.started)),
    done: Promise.all(streams.map((s) => s.done)),
  };
}

const all = Array.from({ length: N }, (_, i) => request(i));

describe('the bitwise comparison', () => {
  it('sees one ulp in one logprob, and one token', async () => {
    const engine = await launchEngine();
    const [out] = await oneAtATime(engine, [request(0)]);
    const output = out as GenerateOutput;
    const pairs = output.metaInfo.outputTokenLogprobs ?? [];
    const bumped = structuredClone(output);
    const entry = bumped.metaInfo.outputTokenLogprobs?.[17] as [number, number, null];
    const bits = new BigInt64Array(new Float64Array([entry[0]]).buffer);
    bits[0] = (bits[0] as bigint) ^ 1n;
    entry[0] = new Float64Array(bits.buffer)[0] as number;
    expect(entry[0]).not.toBe(pairs[17]?.[0]);
    expect(differences([output], [bumped])).toEqual([
      `request 0: logprob 17 differs (${pairs[17]?.[0]} vs ${entry[0]})`,
    ]);
    const swapped = structuredClone(output);
    swapped.outputIds[30] = ((swapped.outputIds[30] as number) + 1) % 256;
    expect(differences([output], [swapped])).toHaveLength(1);
    expect(differences([output], [output])).toEqual([]);
  });
});

type Mode = [deterministic: boolean, dtype: 'float32' | 'bfloat16'];
const MODES: Mode[] =
  DEVICE === 'cpu'
    ? [
        [false, 'float32'],
        [true, 'float32'],
        [true, 'bfloat16'],
      ]
    : [
        [true, 'float32'],
        [true, 'bfloat16'],
      ];

describe.each(MODES)(
  `deterministic %s on ${DEVICE} in %s: the same request gives the same bytes (rule 14)`,
  (deterministic: boolean, dtype: Mode[1]) => {
    const launch = (options: Parameters<typeof launchEngine>[0] = {}) =>
      launchEngine({ dtype, ...options });
    it('the same N requests one at a time, twice (the second time from the prefix cache)', async () => {
      const engine = await launch({ deterministic });
      const first = await oneAtATime(engine, all);
      expectInformative(first);
      const second = await oneAtATime(engine, all);
      expect(second.every((o) => o.metaInfo.cachedTokens > 0)).toBe(true);
      expect(differences(first, second)).toEqual([]);
    });

    it('N at once vs one at a time', async () => {
      const engine = await launch({ deterministic, prefixCache: false });
      const alone = await oneAtATime(engine, all);
      expectInformative(alone);
      expect(differences(alone, await atOnce(engine, all))).toEqual([]);
    });

    it('N at once, twice', async () => {
      const engine = await launch({ deterministic });
      const first = await atOnce(engine, all);
      expectInformative(first);
      expect(differences(first, await atOnce(engine, all))).toEqual([]);
    });

    it('N at once with prefill in chunks of 24 tokens vs whole', async () => {
      const wholeEngine = await launch({ deterministic, prefixCache: false });
      const whole = await atOnce(wholeEngine, all);
      expectInformative(whole);
      const chunked = await launch({ deterministic, prefixCache: false, maxBatchTokens: 24 });
      expect(differences(whole, await atOnce(chunked, all))).toEqual([]);
      // The prompts (37 to 100 tokens) really went in several passes each.
      const passes = async (e: Engine) => (await e.metrics()).forwardPassesTotal;
      expect(await passes(chunked)).toBeGreaterThan((await passes(wholeEngine)) + N);
    });

    it('N at once with decode steps as captured graphs vs kernel by kernel', async () => {
      const graphs = await launch({ deterministic, prefixCache: false });
      const replayed = await atOnce(graphs, all);
      expectInformative(replayed);
      const launches = await launch({ deterministic, prefixCache: false, cudaGraphs: false });
      expect(launches.modelInfo().serving.switches.cudaGraphs).toBe(false);
      expect(differences(replayed, await atOnce(launches, all))).toEqual([]);
    });

    it('N at once, greedy and seeded at temperature 1, each pass launched before the last is settled vs one at a time', async () => {
      const hot: SamplingInput = { ...greedy, temperature: 1, seed: 7 };
      const inputs = [...all, ...Array.from({ length: N }, (_, i) => request(i, hot))];
      const overlapped = await launch({ deterministic, prefixCache: false });
      expect(overlapped.modelInfo().serving.switches.overlapSchedule).toBe(true);
      const ahead = await atOnce(overlapped, inputs);
      expectInformative(ahead);
      const serial = await launch({ deterministic, prefixCache: false, overlapSchedule: false });
      expect(serial.modelInfo().serving.switches.overlapSchedule).toBe(false);
      expect(differences(ahead, await atOnce(serial, inputs))).toEqual([]);
    });

    it('N at once with a release + resume of all tags mid-flight vs without', async () => {
      const engine = await launch({ deterministic });
      const reference = await atOnce(engine, all);
      expectInformative(reference);
      await engine.flushCache();
      const run = streamedAtOnce(engine, all, 2);
      await run.started;
      // Paused first so that the release surely finds all N mid-flight; rule 8 retracts them.
      expect((await engine.pauseGeneration({ mode: 'keep' })).success).toBe(true);
      expect((await engine.metrics()).runningRequests).toBe(N);
      expect((await engine.releaseMemoryOccupation()).success).toBe(true);
      const released = await engine.metrics();
      expect([released.runningRequests, released.waitingRequests]).toEqual([0, N]);
      expect((await engine.resumeMemoryOccupation()).success).toBe(true);
      expect((await engine.continueGeneration()).success).toBe(true);
      expect(differences(reference, await run.done)).toEqual([]);
    });

    it('N at once with pause retract + continue mid-flight vs without', async () => {
      const engine = await launch({ deterministic });
      const reference = await atOnce(engine, all);
      expectInformative(reference);
      const run = streamedAtOnce(engine, all, 2);
      await run.started;
      const paused = await engine.pauseGeneration({ mode: 'retract' });
      expect(paused.message).toBe(`paused (retract); running requests retracted: ${N}`);
      expect((await engine.continueGeneration()).success).toBe(true);
      expect(differences(reference, await run.done)).toEqual([]);
    });

    it('N at once with pause keep + continue mid-flight vs without', async () => {
      const engine = await launch({ deterministic });
      // Long enough that all N are still running when the pause lands, however slow the
      // main thread is to see their first tokens.
      const long = PROMPTS.map((_, i) => request(i, { ...greedy, maxNewTokens: 320 }));
      const reference = await atOnce(engine, long);
      expectInformative(reference, 320);
      const run = streamedAtOnce(engine, long, 2);
      await run.started;
      expect((await engine.pauseGeneration({ mode: 'keep' })).success).toBe(true);
      expect((await engine.metrics()).runningRequests).toBe(N);
      expect((await engine.continueGeneration()).success).toBe(true);
      expect(differences(reference, await run.done)).toEqual([]);
    });

    it('seeded sampling at temperature 1: the same seed with other batch companions gives the same bytes', async () => {
      const engine = await launch({ deterministic, prefixCache: false });
      const hot = (seed: number): SamplingInput => ({ ...greedy, temperature: 1, seed });
      const seeded = Array.from({ length: N }, (_, i) => request(i, hot(1000 + i)));
      const alone = await oneAtATime(engine, seeded);
      expectInformative(alone);
      // Sampling, not greedy decoding in disguise.
      const greedyOutputs = await oneAtATime(engine, all);
      expect(alone.map((o) => o.outputIds)).not.toEqual(greedyOutputs.map((o) => o.outputIds));
      // Together, in reverse order, and beside other seeds and greedy requests of the same prompts.
      const companions = [
        ...[...seeded].reverse(),
        ...all,
        ...Array.from({ length: N }, (_, i) => request(i, hot(7 + i))),
      ];
      const together = (await atOnce(engine, companions)).slice(0, N).reverse();
      expect(differences(alone, together)).toEqual([]);
    });

    it('n = 8 samples of a prompt (seeds seed + j) reproduce alone, as a group, and beside another group', async () => {
      const engine = await launch({ deterministic, prefixCache: false });
      const app = createServer(engine, { modelName: 'tiny' });
      try {
        type Reply = {
          output_ids: number[];
          meta_info: { output_token_logprobs: [number, number, null][] };
        };
        const group = async (text: string, seed: number) => {
          const res = await app.inject({
            method: 'POST',
            url: '/generate',
            payload: {
              text,
              sampling_params: {
                n: 8,
                temperature: 1,
                sampling_seed: seed,
                max_new_tokens: TOKENS,
                ignore_eos: true,
              },
              return_logprob: true,
            },
          });
          expect(res.statusCode).toBe(200);
          return (res.json() as Reply[]).map(
            (r): GenerateOutput =>
              ({
                outputIds: r.output_ids,
                metaInfo: { outputTokenLogprobs: r.meta_info.output_token_logprobs },
              }) as GenerateOutput,
          );
        };
        const prompt = PROMPTS[0] as string;
        const first = await group(prompt, 42);
        expect(first).toHaveLength(8);
        expectInformative(first);
        // Each sample j is the request with seed 42 + j, run on its own.
        const alone = await oneAtATime(
          engine,
          Array.from({ length: 8 }, (_, j) => ({
            text: prompt,
            samplingParams: { ...greedy, temperature: 1, seed: 42 + j },
            returnLogprob: true,
          })),
        );
        expect(differences(alone, first)).toEqual([]);
        const [again, other] = await Promise.all([
          group(prompt, 42),
          group(PROMPTS[1] as string, 9),
        ]);
        expect(differences(first, again)).toEqual([]);
        expect(differences(first, other)).toHaveLength(8);
      } finally {
        await app.close();
      }
    });

    it('data-parallel ranks: dp-size 1 vs 2, and rank 0 vs rank 1', async () => {
      const single = await atOnce(await launch({ deterministic, prefixCache: false }), all);
      expectInformative(single);
      const dp = await launch({ deterministic, prefixCache: false, dpSize: 2 });
      expect(differences(single, await atOnce(dp, all))).toEqual([]);
      for (const rank of [0, 1]) {
        const pinned = all.map((input) => ({ ...input, dataParallelRank: rank }));
        expect(differences(single, await atOnce(dp, pinned))).toEqual([]);
      }
    });
  },
);
