import type { AddressInfo } from 'node:net';
import { EngineClient, EngineClientError } from '@ts/client';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../engine/engine.js';
import { createServer } from './create-server.js';
import { dyingAfterFirstUpdate, launchTiny, tinyCheckpoint } from './tiny-engine.test-helpers.js';

let engine: Engine;
let checkpoint: string;
let app: FastifyInstance;
let baseUrl: string;
let client: EngineClient;

beforeAll(async () => {
  [engine, checkpoint] = await Promise.all([launchTiny(), tinyCheckpoint()]);
  app = createServer(engine, { adminKey: 'k' });
  await app.listen({ host: '127.0.0.1', port: 0 });
  baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  client = new EngineClient({ baseUrl, apiKey: 'k' });
});
afterAll(async () => {
  await app?.close();
  await engine?.shutdown();
});

async function until(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200 && !(await check()); i++) await new Promise((r) => setTimeout(r, 5));
  expect(await check()).toBe(true);
}

/** Requests that ended with finish reason abort, so far. */
const aborted = async () => (await engine.metrics()).abortedRequestsTotal;

/** A generation that runs for a while on the CPU (1000 tokens, EOS ignored) unless ended. */
const LONG = { max_new_tokens: 1000, ignore_eos: true };

describe('@ts/client against createServer', () => {
  it('generates whole, batched and streamed', async () => {
    const greedy = { max_new_tokens: 3, temperature: 0, ignore_eos: true };
    const one = await client.generate({ text: 'hi', sampling_params: greedy });
    expect(one.output_ids).toHaveLength(3);
    expect(one.text).toBe(engine.detokenize(one.output_ids));
    expect(one.meta_info.finish_reason).toEqual({ type: 'length' });
    const batch = await client.generateBatch({
      input_ids: [[1], [2, 3]],
      sampling_params: { max_new_tokens: 1 },
    });
    expect(batch.map((r) => r.meta_info.prompt_tokens)).toEqual([1, 2]);
    const updates = [];
    for await (const update of client.generateStream({
      text: 'hi',
      rid: 'st',
      sampling_params: greedy,
    }))
      updates.push(update);
    // The first update comes as the request starts, before any token.
    expect(updates.map((u) => u.output_ids.length)).toEqual([0, 1, 2, 3]);
    expect(updates.at(-1)?.text).toBe(one.text);
    expect(updates.at(-1)?.meta_info).toMatchObject({
      id: 'st',
      finish_reason: { type: 'length' },
    });
    const indexed = [];
    for await (const u of client.generateBatchStream({
      text: ['a', 'b'],
      sampling_params: { max_new_tokens: 3, ignore_eos: true },
    }))
      indexed.push(u.index);
    expect(indexed.sort()).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
  });

  it('tokenizes, detokenizes and reads the server info', async () => {
    expect((await client.tokenize('ab')).tokens).toEqual([256, 97, 98]);
    expect((await client.tokenize('ab', { add_special_tokens: false })).count).toBe(2);
    expect((await client.detokenize([97, 98])).text).toBe('ab');
    const info = await client.getServerInfo();
    expect(info.dp_size).toBe(1);
    expect(info.enable_deterministic_inference).toBe(false);
  });

  it("throws EngineClientError with the server's message and status", async () => {
    const refused = await client.generate({ input_ids: [300] }).catch((e: unknown) => e);
    expect(EngineClientError.isInstance(refused)).toBe(true);
    expect(refused).toMatchObject({
      status: 400,
      message: 'input_ids holds 300, outside the vocabulary [0, 258)',
    });
    const invalid = await client
      .generate({ text: 'a', sampling_params: { top_p: 2 } })
      .catch((e) => e);
    expect(invalid).toMatchObject({ status: 400, message: 'top_p must be in (0, 1]' });
    const streamed = client.generateStream({ input_ids: [300] });
    await expect(streamed.next()).rejects.toMatchObject({ status: 400 });
    const crashing = createServer(dyingAfterFirstUpdate(engine));
    try {
      await crashing.listen({ host: '127.0.0.1', port: 0 });
      const port = (crashing.server.address() as AddressInfo).port;
      const crashed = async () => {
        const stream = new EngineClient({ baseUrl: `http://127.0.0.1:${port}` }).generateStream({
          text: 'x',
        });
        for await (const _ of stream) {
          // the second event is the error
        }
      };
      await expect(crashed()).rejects.toThrow('rank 0 died');
    } finally {
      await crashing.close();
    }
  });

  it('aborts the request when the caller stops reading or aborts', async () => {
    const before = await aborted();
    for await (const update of client.generateStream({
      text: 'x',
      rid: 'long-1',
      sampling_params: LONG,
    })) {
      expect(update.meta_info.id).toBe('long-1');
      break;
    }
    await until(async () => (await aborted()) === before + 1);
    const controller = new AbortController();
    const pending = client.generate(
      { text: 'x', rid: 'long-2', sampling_params: LONG },
      { signal: controller.signal },
    );
    await until(async () => {
      const m = await engine.metrics();
      return m.runningRequests + m.waitingRequests > 0;
    });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: 'EngineClientError', status: undefined });
    await until(async () => (await aborted()) === before + 2);
  });

  it('drives the RL loop control calls with the admin key', async () => {
    expect(await client.health()).toEqual({ success: true, message: 'ok' });
    expect(await client.healthGenerate()).toEqual({ success: true, message: 'ok' });
    const released = await client.releaseMemoryOccupation();
    expect(released).toEqual({
      success: true,
      message: expect.any(String),
      released_tags: ['weights', 'kv_cache', 'cuda_graph'],
      freed_bytes: expect.any(Number),
      duration_ms: expect.any(Number),
    });
    expect(released.freed_bytes).toBeGreaterThan(0);
    expect(await client.isSleeping()).toEqual({
      success: true,
      message: expect.any(String),
      is_sleeping: true,
      released_tags: ['weights', 'kv_cache', 'cuda_graph'],
      resident_bytes: { weights: 0, kv_cache: 0, cuda_graph: 0 },
    });
    expect(await client.continueGeneration()).toEqual({
      success: true,
      message: 'not paused; memory is still released: nothing runs until every tag is resumed',
      status: 'ok',
    });
    expect(await client.resumeMemoryOccupation({ tags: ['weights'] })).toEqual({
      success: true,
      message: expect.any(String),
      released_tags: ['kv_cache', 'cuda_graph'],
      resumed_tags: ['weights'],
      repaired_pools: [],
      duration_ms: expect.any(Number),
    });
    expect((await client.updateWeightsFromDisk({ model_path: checkpoint })).success).toBe(true);
    expect((await client.resumeMemoryOccupation({ tags: ['weights'] })).message).toBe(
      'tags not released: [weights]',
    );
    expect((await client.resumeMemoryOccupation()).success).toBe(true);
    expect((await client.pauseGeneration({ mode: 'wait' })).success).toBe(true);
    expect((await client.continueGeneration()).success).toBe(true);
    expect((await client.flushCache()).success).toBe(true);
    expect(await client.abortRequest({ rid: 'gone' })).toEqual({
      success: true,
      message: 'no request gone in flight: nothing aborted',
    });
    expect((await client.modelInfo()).is_generation).toBe(true);
    expect((await client.listModels()).data[0]?.id).toBe('builtin:tiny');
    expect(await client.metrics()).toContain('ts_engine_is_sleeping 0\n');
  });

  it('gets 401 with the message without the key, while generation stays open', async () => {
    const anonymous = new EngineClient({ baseUrl });
    expect(await anonymous.releaseMemoryOccupation()).toEqual({
      success: false,
      message: 'admin key required: send Authorization: Bearer <key>',
    });
    const open = await anonymous.generate({ text: 'a', sampling_params: { max_new_tokens: 3 } });
    expect(open.meta_info.completion_tokens).toBeGreaterThan(0);
  });
});
