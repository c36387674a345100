// @module-tag cuda
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EngineClient } from '@ts/client';
import { afterEach, describe, expect, it } from 'vitest';
import { flippedBf16 } from './checkpoints.js';
import { type ServerProcess, startServer } from './server-process.js';

// Issue 13 on the device: the RL loop over HTTP with the default --dtype auto on a real-sized
// bfloat16 checkpoint (TS_E2E_MODEL, the random Llama-3.2-1B shape of e2e/bench), beside the
// same server at --dtype float32. Prints what it measured; asserts only correctness.
const MODEL = process.env.TS_E2E_MODEL || undefined;
const servers: ServerProcess[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function serve(model: string, extra: string[] = []) {
  const server = await startServer(['--model', model, '--kv-memory-fraction', '0.05', ...extra]);
  servers.push(server);
  return { server, client: new EngineClient({ baseUrl: server.url }) };
}

/** Bytes the weights tag holds, from the server's own metrics. */
async function weightBytes(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith('ts_engine_resident_bytes{tag="weights"}'));
  return Number(line?.split(' ').at(-1));
}

/** A fixed prompt of ids inside the model's vocabulary. */
function requestFor(model: string) {
  const vocab = JSON.parse(readFileSync(join(model, 'config.json'), 'utf8')).vocab_size as number;
  return {
    input_ids: [128000, 791, 4062, 14198, 39935, 35308, 927, 279].map((id) => id % vocab),
    sampling_params: { max_new_tokens: 128, temperature: 0, ignore_eos: true },
  };
}

describe.skipIf(!MODEL)('the RL loop on the 1B-shaped checkpoint (TS_E2E_MODEL)', () => {
  it('serves it in bfloat16 by default, wakes, updates from disk, and matches a fresh server', async () => {
    const model = MODEL as string;
    const request = requestFor(model);
    const second = flippedBf16(model);
    const { server, client } = await serve(model);
    expect((await client.getServerInfo()).dtype).toBe(
      process.env.TS_E2E_DEVICE === 'cuda' ? 'bfloat16' : 'float32',
    );
    const timed = async <T>(run: () => Promise<T>): Promise<[T, number]> => {
      const start = performance.now();
      const value = await run();
      return [value, performance.now() - start];
    };
    const before = await client.generate(request);
    const [, decodeAuto] = await timed(() => client.generate(request));
    const autoBytes = await weightBytes(server.url);
    const [released, releaseMs] = await timed(() => client.releaseMemoryOccupation());
    expect(released.success).toBe(true);
    const [, resumeWeightsMs] = await timed(() =>
      client.resumeMemoryOccupation({ tags: ['weights'] }),
    );
    const [updated, updateMs] = await timed(() =>
      client.updateWeightsFromDisk({ model_path: second, weight_version: 'flipped' }),
    );
    expect(updated.success, updated.message).toBe(true);
    const [, resumeKvMs] = await timed(() =>
      client.resumeMemoryOccupation({ tags: ['kv_cache', 'cuda_graph'] }),
    );
    expect((await client.modelInfo()).weight_version).toBe('flipped');
    const after = await client.generate(request);
    expect(after.output_ids).not.toEqual(before.output_ids);
    await server.stop();
    servers.splice(servers.indexOf(server), 1);
    const fresh = await serve(second);
    expect((await fresh.client.generate(request)).output_ids).toEqual(after.output_ids);
    await fresh.server.stop();
    servers.splice(servers.indexOf(fresh.server), 1);
    const f32 = await serve(model, ['--dtype', 'float32']);
    await f32.client.generate(request);
    const [, decodeF32] = await timed(() => f32.client.generate(request));
    const f32Bytes = await weightBytes(f32.server.url);
    const gib = (b: number) => (b / 1024 ** 3).toFixed(2);
    console.log(
      [
        '| --dtype | weights GiB | 128 greedy tokens of one request, ms (its second run) |',
        '| --- | --- | --- |',
        `| auto (${process.env.TS_E2E_DEVICE === 'cuda' ? 'bfloat16' : 'float32'}) | ${gib(autoBytes)} | ${decodeAuto.toFixed(0)} |`,
        `| float32 | ${gib(f32Bytes)} | ${decodeF32.toFixed(0)} |`,
        '',
        `RL loop at auto, ms: release all ${releaseMs.toFixed(1)}, resume weights ${resumeWeightsMs.toFixed(1)}, update from disk ${updateMs.toFixed(0)}, resume kv_cache + cuda_graph ${resumeKvMs.toFixed(1)}`,
      ].join('\n'),
    );
  }, 600_000);
});
