import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../engine/engine.js';
import { DEVICE } from '../model/runner.test-helpers.js';
import { pickledNamedTensors } from '../model/weights/torch-pickle/serialized-named-tensors.js';
import { SHARED_MEMORY_DIR } from '../model/weights/torch-pickle/shared-file-tensor.js';
import { createServer } from './create-server.js';
import { launchTiny } from './tiny-engine.test-helpers.js';

// Pickles torch made (fixtures/make_torch_pickles.py) of three builtin:tiny tensors, and the
// shared-memory objects they name, put back under /dev/shm while this file runs.
const FIXTURES = join(import.meta.dirname, '../model/weights/torch-pickle/fixtures');
const fixture = (name: string) => readFileSync(join(FIXTURES, name), 'utf8').trim();
const shm: Record<string, string> = JSON.parse(fixture('update-shm.json'));
const shmPath = (name: string) => `${SHARED_MEMORY_DIR}${name}`;
const putShm = (name: string) =>
  writeFileSync(shmPath(name), Buffer.from(shm[name] as string, 'base64'));

const servers: Array<{ engine: Engine; app: FastifyInstance }> = [];
async function serve() {
  const engine = await launchTiny();
  const app = createServer(engine, { modelName: 'tiny' });
  servers.push({ engine, app });
  const post = (url: string, payload: unknown, headers = {}) =>
    app.inject({ method: 'POST', url, payload: payload as string, headers });
  const push = (entry: string, extra: object = {}) =>
    post('/update_weights_from_tensor', { serialized_named_tensors: [entry], ...extra });
  // Greedy tokens and their logprobs: equal only where the weights are.
  const output = async () => {
    const res = await post('/generate', {
      text: 'the weights',
      sampling_params: { max_new_tokens: 8, ignore_eos: true },
      return_logprob: true,
    });
    return res.json().meta_info.output_token_logprobs;
  };
  return { engine, post, push, output };
}

let expected: unknown;
let fresh: unknown;
beforeAll(async () => {
  for (const name of Object.keys(shm)) putShm(name);
  const reference = await serve();
  fresh = await reference.output();
  const body = Buffer.from(fixture('update-expected.safetensors.b64'), 'base64');
  const pushed = await reference.post('/update_weights_from_tensor', body, {
    'content-type': 'application/octet-stream',
  });
  expect(pushed.json().success).toBe(true);
  expected = await reference.output();
  expect(expected).not.toEqual(fresh);
});
afterAll(async () => {
  for (const name of Object.keys(shm)) rmSync(shmPath(name), { force: true });
  for (const { engine, app } of servers) {
    await app.close();
    await engine.shutdown();
  }
});

describe("POST /update_weights_from_tensor with SGLang's serialized tensors", () => {
  it.each([
    ['(name, tensor) pairs', 'update-pairs.b64', null],
    ['LocalSerializedTensor values', 'update-per-rank.b64', null],
    ['a flattened bucket of bytes', 'update-bucket.b64', 'flattened_bucket'],
    ['an older flattened bucket of float32', 'update-bucket-float.b64', 'flattened_bucket'],
  ])(
    'takes %s and then generates as the same tensors sent as safetensors',
    async (_, name, format) => {
      const { push, output } = await serve();
      const res = await push(fixture(name), { load_format: format, flush_cache: false });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ success: true });
      expect(res.json().message).toMatch(/^3 tensors updated/);
      expect(await output()).toEqual(expected);
    },
  );

  it('sets the weight version, aborts requests when asked, and lands in the backup while weights are released', async () => {
    const { engine, push, output } = await serve();
    await engine.releaseMemoryOccupation({ tags: ['weights'] });
    const res = await push(fixture('update-pairs.b64'), {
      weight_version: 'step-3',
      abort_all_requests: true,
    });
    expect(res.json()).toMatchObject({ success: true, num_paused_requests: 0 });
    await engine.resumeMemoryOccupation({ tags: ['weights'] });
    expect(await output()).toEqual(expected);
    expect(engine.weightVersion()).toBe('step-3');
  });

  it('takes 100 bucketed updates in a row with no file left open and no memory growth', async () => {
    const { push, output } = await serve();
    const openFiles = () => readdirSync('/proc/self/fd').length;
    const bucket = fixture('update-bucket.b64');
    for (let i = 0; i < 10; i++) await push(bucket, { load_format: 'flattened_bucket' });
    const files = openFiles();
    const rss = process.memoryUsage().rss;
    for (let i = 0; i < 100; i++) {
      const res = await push(bucket, { load_format: 'flattened_bucket', flush_cache: false });
      expect(res.statusCode).toBe(200);
    }
    expect(openFiles()).toBe(files);
    expect(process.memoryUsage().rss - rss).toBeLessThan(64 * 1024 * 1024);
    expect(await output()).toEqual(expected);
  });

  it('refuses hostile, broken and mismatched bodies with a 400 and leaves the engine as it was', async () => {
    const { engine, post, push, output } = await serve();
    const pairs = fixture('update-pairs.b64');
    const truncated = Buffer.from(pairs, 'base64').subarray(0, 200).toString('base64');
    const refusals: Array<[unknown, string]> = [
      [push(fixture('reduce-os-system.b64')), 'the global posix.system is not allowed'],
      [push(truncated), 'pickle: a length past the data'],
      [push('not base64!'), 'not base64 text'],
      [
        push(fixture('update-cuda-forged.b64')),
        DEVICE === 'cpu'
          ? 'CUDA IPC handles need the CUDA backend; this engine runs on cpu'
          : 'cudaIpcOpenMemHandle failed',
      ],
      [push(fixture('update-non-finite.b64')), 'model.norm.weight has 1 non-finite value'],
      [push(fixture('update-wrong-shape.b64')), 'model.norm.weight has shape [64], expected [128]'],
      [push(pairs, { load_format: 'flattened_bucket' }), 'not a dict of flattened_tensor'],
      [push(pairs, { load_format: 'direct' }), "load_format: must be null or 'flattened_bucket'"],
      [
        post('/update_weights_from_tensor', { serialized_named_tensors: [pairs, pairs] }),
        'one entry per tensor-parallel rank: this engine runs 1',
      ],
      [post('/update_weights_from_tensor', { tensors: [] }), 'serialized_named_tensors'],
    ];
    for (const [res, message] of refusals) {
      const reply = await (res as ReturnType<typeof push>);
      expect(reply.statusCode, message).toBe(400);
      expect(reply.json().message).toContain(message);
    }
    // A tensor whose shared memory is gone (the trainer let it go) is refused too.
    const [gone] = pickledNamedTensors(pairs, null).map(
      (t) => (t.storage as { name: string }).name,
    );
    rmSync(shmPath(gone as string));
    const missing = await push(pairs);
    putShm(gone as string);
    expect(missing.statusCode).toBe(400);
    expect(missing.json().message).toContain('a tensor could not be read: ENOENT');
    expect(await output()).toEqual(fresh);
    // The backup holds the same weights: a release and resume bring back the fresh output.
    await engine.releaseMemoryOccupation({ tags: ['weights'] });
    await engine.resumeMemoryOccupation({ tags: ['weights'] });
    expect(await output()).toEqual(fresh);
  });
});
