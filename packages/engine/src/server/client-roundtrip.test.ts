import type { AddressInfo } from 'node:net';
import { EngineClient, EngineClientError } from '@ts/client';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from './create-server.js';
import { FakeEngine } from './server.test-helpers.js';

let engine: FakeEngine;
let app: FastifyInstance;
let baseUrl: string;
let client: EngineClient;

beforeAll(async () => {
  engine = new FakeEngine();
  app = createServer(engine, { adminKey: 'k' });
  await app.listen({ host: '127.0.0.1', port: 0 });
  baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  client = new EngineClient({ baseUrl, apiKey: 'k' });
});
afterAll(() => app.close());

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(check()).toBe(true);
}

describe('@ts/client against createServer', () => {
  it('generates whole, batched and streamed', async () => {
    const one = await client.generate({ text: 'hi', sampling_params: { max_new_tokens: 2 } });
    expect(one).toMatchObject({ text: 'w0 w1', output_ids: [100, 101] });
    expect(one.meta_info.finish_reason).toEqual({ type: 'length' });
    const batch = await client.generateBatch({ input_ids: [[1], [2, 3]] });
    expect(batch.map((r) => r.meta_info.prompt_tokens)).toEqual([1, 2]);
    const updates = [];
    for await (const update of client.generateStream({ text: 'hi', rid: 'st' }))
      updates.push(update);
    expect(updates.map((u) => u.text)).toEqual(['w0', 'w0 w1', 'w0 w1 w2']);
    expect(updates.at(-1)?.meta_info).toMatchObject({
      id: 'st',
      finish_reason: { type: 'length' },
    });
    const indexed = [];
    for await (const u of client.generateBatchStream({ text: ['a', 'b'] })) indexed.push(u.index);
    expect(indexed.sort()).toEqual([0, 0, 0, 1, 1, 1]);
  });

  it('tokenizes, detokenizes and reads the server info', async () => {
    expect((await client.tokenize('ab')).tokens).toEqual([1, 97, 98]);
    expect((await client.tokenize('ab', { add_special_tokens: false })).count).toBe(2);
    expect((await client.detokenize([97, 98])).text).toBe('ab');
    expect((await client.getServerInfo()).dp_size).toBe(1);
  });

  it("throws EngineClientError with the server's message and status", async () => {
    const refused = await client.generate({ text: 'refuse' }).catch((e: unknown) => e);
    expect(EngineClientError.isInstance(refused)).toBe(true);
    expect(refused).toMatchObject({ status: 400, message: 'text: unknown special token' });
    const invalid = await client
      .generate({ text: 'a', sampling_params: { top_p: 2 } })
      .catch((e) => e);
    expect(invalid.message).toMatch(/^sampling_params\.top_p: /);
    const streamed = client.generateStream({ text: 'refuse' });
    await expect(streamed.next()).rejects.toMatchObject({ status: 400 });
    const crashed = async () => {
      for await (const _ of client.generateStream({ text: 'crash' })) {
        // the second event is the error
      }
    };
    await expect(crashed()).rejects.toThrow('rank 0 died');
  });

  it('aborts the request when the caller stops reading or aborts', async () => {
    for await (const update of client.generateStream({ text: 'x', rid: 'hang-1' })) {
      expect(update.text).toBe('w0');
      break;
    }
    await until(() => engine.calls.some(([k, v]) => k === 'cancel' && v === 'hang-1'));
    const controller = new AbortController();
    const pending = client.generate({ text: 'x', rid: 'hang-2' }, { signal: controller.signal });
    await until(() => engine.calls.some(([, v]) => (v as { rid?: string })?.rid === 'hang-2'));
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: 'EngineClientError', status: undefined });
    await until(() => engine.calls.some(([k, v]) => k === 'cancel' && v === 'hang-2'));
  });

  it('drives the RL loop control calls with the admin key', async () => {
    expect(await client.health()).toEqual({ success: true, message: 'ok' });
    expect(await client.healthGenerate()).toEqual({ success: true, message: 'ok' });
    expect(await client.releaseMemoryOccupation()).toMatchObject({
      success: true,
      released_tags: ['weights', 'kv_cache', 'cuda_graph'],
    });
    expect(await client.isSleeping()).toMatchObject({ success: true, is_sleeping: true });
    expect(await client.continueGeneration()).toEqual({
      success: true,
      message: 'continued; memory is still released',
      status: 'ok',
    });
    expect((await client.resumeMemoryOccupation({ tags: ['weights'] })).released_tags).toEqual([
      'kv_cache',
      'cuda_graph',
    ]);
    expect((await client.updateWeightsFromDisk({ model_path: '/ckpt/2' })).success).toBe(true);
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
    expect((await anonymous.generate({ text: 'a' })).text).toBe('w0 w1 w2');
  });
});
