/**
 * A PyTorch trainer pushing new weights to `ts-engine serve` as SGLang's clients do
 * (e2e/trainer/push_weights.py: torch's ForkingPickler, base64, POST
 * /update_weights_from_tensor), whole and in flattened buckets; generation afterwards equals a
 * fresh server on the new checkpoint. Needs a Python with torch: TS_E2E_PYTHON (the device
 * machine has one; CI does not, and reads committed pickles in the engine's tests instead).
 */
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { flippedBf16 } from './checkpoints.js';
import { expectSameAsFresh, PROMPTS, settle } from './frameworks/rollouts.js';
import { LLAMA, secondCheckpoint, serve } from './frameworks/server.js';
import { ok, post, type Reply } from './frameworks/wire.js';

const PYTHON = process.env.TS_E2E_PYTHON || undefined;
const PUSH = join(import.meta.dirname, '../trainer/push_weights.py');
/** Tensor-pushing device: where the trainer keeps its weights (cuda: IPC handles). */
const TRAINER_DEVICE = process.env.TS_E2E_TRAINER_DEVICE ?? 'cpu';
/** The 1B-shaped checkpoint (scripts/device-run.sh make-1b), for the full-size IPC update. */
const MODEL_1B = process.env.TS_E2E_MODEL || undefined;

/** push_weights.py's exit status when the engine refused an update (1: it held sent memory). */
const REFUSED = 2;

function pushWeights(url: string, checkpoint: string, bucketBytes: number, poison?: string) {
  const run = spawnSync(
    PYTHON as string,
    [
      PUSH,
      url,
      join(checkpoint, 'model.safetensors'),
      '--bucket-bytes',
      String(bucketBytes),
      '--device',
      TRAINER_DEVICE,
      ...(poison ? ['--poison', poison] : []),
    ],
    { encoding: 'utf8', timeout: 120_000 },
  );
  expect(run.status, `push_weights.py: ${run.stdout}${run.stderr}`).toBe(poison ? REFUSED : 0);
  // torch's words for sent CUDA storages whose readers never said they were done.
  expect(run.stderr).not.toContain('before all shared CUDA tensors released');
  return run.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
}

const greedy = (ids: number[]) => ({
  input_ids: ids,
  sampling_params: { temperature: 0, max_new_tokens: 24 },
  return_logprob: true,
});

describe.skipIf(!PYTHON)('a PyTorch trainer pushing weights (TS_E2E_PYTHON)', () => {
  it.each([
    ['whole, as (name, tensor) pairs', 0],
    ['in flattened buckets of 16 KiB', 16_384],
  ])('%s: then generates as a fresh server on the new checkpoint', async (_, bucketBytes) => {
    const second = secondCheckpoint();
    const url = await serve(LLAMA);
    const replies = pushWeights(url, second, bucketBytes);
    expect(replies.length).toBeGreaterThan(bucketBytes === 0 ? 0 : 1);
    for (const reply of replies) expect(reply.success, reply.message).toBe(true);
    const bodies = PROMPTS.map(greedy);
    const after = await settle(bodies.map((b) => post(url, '/generate', b)));
    for (const r of after) ok(r, '/generate');
    await expectSameAsFresh(second, bodies, after);
  });

  it('a tensor holding NaN is refused and the old weights stay, on the device and in the backup', async () => {
    const url = await serve(LLAMA);
    const bodies = PROMPTS.map(greedy);
    const before = await settle(bodies.map((b) => post(url, '/generate', b)));
    const [reply] = pushWeights(url, secondCheckpoint(), 0, 'model.norm.weight');
    expect(reply.success).toBe(false);
    expect(reply.message).toContain('model.norm.weight has 1 non-finite value');
    for (const tag of ['release', 'resume'])
      ok(await post(url, `/${tag}_memory_occupation`, {}), tag);
    const after = await settle(bodies.map((b) => post(url, '/generate', b)));
    const tokens = (replies: Reply[]) =>
      replies.map((r) => [r.json.output_ids, r.json.meta_info.output_token_logprobs]);
    expect(tokens(after)).toEqual(tokens(before));
  });
});

/** The bodies' replies, one request at a time (so every server sees the same batches). */
async function oneByOne(url: string, bodies: unknown[]): Promise<Reply[]> {
  const replies: Reply[] = [];
  for (const body of bodies) replies.push(ok(await post(url, '/generate', body), '/generate'));
  return replies;
}

describe.skipIf(!PYTHON || !MODEL_1B || TRAINER_DEVICE !== 'cuda')(
  'a trainer on this GPU pushing the 1B-shaped checkpoint over CUDA IPC (TS_E2E_MODEL)',
  () => {
    it.each([
      ['one rank', []],
      ['two data-parallel ranks on the GPU, each opening the same handles', ['--dp-size', '2']],
    ])(
      'the sign-flipped checkpoint in 64 MiB buckets, in the RL order, %s: then generates as a fresh server on it',
      async (_, args) => {
        const flipped = flippedBf16(MODEL_1B as string);
        const url = await serve(MODEL_1B as string, args);
        const bodies = PROMPTS.map(greedy);
        const before = await oneByOne(url, bodies);
        ok(await post(url, '/release_memory_occupation', {}), 'release');
        ok(await post(url, '/resume_memory_occupation', { tags: ['weights'] }), 'resume weights');
        const replies = pushWeights(url, flipped, 64 * 1024 * 1024);
        for (const reply of replies) expect(reply.success, reply.message).toBe(true);
        ok(
          await post(url, '/resume_memory_occupation', { tags: ['kv_cache', 'cuda_graph'] }),
          'resume kv',
        );
        const after = await oneByOne(url, bodies);
        const tokens = (rs: Reply[]) =>
          rs.map((r) => [r.json.output_ids, r.json.meta_info.output_token_logprobs]);
        expect(tokens(after)).not.toEqual(tokens(before));
        expect(tokens(after)).toEqual(tokens(await oneByOne(await serve(flipped, args), bodies)));
        const bytes = statSync(`${flipped}/model.safetensors`).size;
        const engineMs = replies.reduce((ms, r) => ms + r.duration_ms, 0);
        console.log(
          `| update | requests | engine ms | GB/s |\n| --- | --- | --- | --- |\n` +
            `| 1B sign-flipped, 64 MiB buckets, CUDA IPC, ${args.join(' ') || 'dp 1'} | ${replies.length} | ${engineMs.toFixed(1)} | ${(bytes / engineMs / 1e6).toFixed(1)} |`,
        );
      },
      600_000,
    );
  },
);
