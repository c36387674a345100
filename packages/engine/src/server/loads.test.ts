import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../engine/engine.js';
import { createServer } from './create-server.js';
import { launchTiny } from './tiny-engine.test-helpers.js';

// The real engine on builtin:tiny (64 pages of 16 tokens: 1024 tokens; one request runs at a
// time), after a fixed workload: the same 40-byte prompt twice, 2 tokens each; the second
// takes its 2 full pages (32 of its 41 tokens) from the prefix cache.
let engine: Engine;
let app: FastifyInstance;
const prompt = 'a'.repeat(40);
beforeAll(async () => {
  engine = await launchTiny();
  app = createServer(engine, { modelName: 'tiny' });
  for (let i = 0; i < 2; i++) await generate(prompt, 2);
});
afterAll(async () => {
  await app?.close();
  await engine?.shutdown();
});

const generate = (text: string, tokens: number) =>
  app.inject({
    method: 'POST',
    url: '/generate',
    payload: { text, sampling_params: { max_new_tokens: tokens, ignore_eos: true } },
  });

describe('GET /v1/loads (SGLang)', () => {
  it("answers each rank's core load, and the generation rate between two calls", async () => {
    const first = (await app.inject({ url: '/v1/loads?include=core' })).json();
    expect(first).toEqual({
      timestamp: expect.any(String),
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      dp_rank_count: 1,
      loads: [
        {
          dp_rank: 0,
          num_running_reqs: 0,
          num_waiting_reqs: 0,
          num_total_reqs: 0,
          num_used_tokens: 0,
          max_total_num_tokens: 1024,
          token_usage: 0,
          gen_throughput: 0,
          cache_hit_rate: 32 / 82,
          utilization: 0,
          max_running_requests: 64,
        },
      ],
      aggregate: {
        total_running_reqs: 0,
        total_waiting_reqs: 0,
        total_reqs: 0,
        avg_token_usage: 0,
        avg_throughput: 0,
        avg_utilization: 0,
      },
    });
    const started = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await generate('x', 50);
    const second = (await app.inject({ url: '/get_loads' })).json();
    const rate = second.loads[0].gen_throughput;
    expect(rate).toBeGreaterThan(0);
    expect(rate).toBeLessThanOrEqual(50 / ((performance.now() - started) / 1000) + 1);
  });

  it('adds the memory section with include=all, and refuses unknown sections and ranks', async () => {
    const all = (await app.inject({ url: '/v1/loads?include=all' })).json();
    expect(all.memory).toEqual({
      is_sleeping: false,
      resident_bytes: {
        weights: expect.any(Number),
        kv_cache: expect.any(Number),
        cuda_graph: expect.any(Number),
      },
    });
    // sgl-model-gateway's poll (lightseekorg/smg, its load monitor): sections not reported here are left out.
    const gateway = await app.inject({ url: '/v1/loads?include=core,disagg,queues,memory' });
    expect(gateway.statusCode).toBe(200);
    expect(Object.keys(gateway.json()).sort()).toEqual([
      'aggregate',
      'dp_rank_count',
      'loads',
      'memory',
      'timestamp',
      'version',
    ]);
    const unknown = await app.inject({ url: '/v1/loads?include=core,gpu' });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().error.message).toBe(
      'include: unknown sections [gpu]; served: core, memory, spec, lora, disagg, queues, all',
    );
    expect((await app.inject({ url: '/v1/loads?dp_rank=0' })).json().loads).toHaveLength(1);
    const rank = await app.inject({ url: '/v1/loads?dp_rank=3' });
    expect(rank.statusCode).toBe(400);
    expect(rank.json().error.message).toBe('dp_rank: no rank 3 (dp-size 1)');
  });
});

describe("GET /get_load (SGLang's older shim, ROLL)", () => {
  it('answers a list per rank with num_reqs and num_waiting_reqs', async () => {
    expect((await app.inject({ url: '/get_load' })).json()).toEqual([
      {
        dp_rank: 0,
        num_reqs: 0,
        num_waiting_reqs: 0,
        num_tokens: 0,
        num_pending_tokens: 0,
        ts_tic: expect.any(Number),
      },
    ]);
  });
});

describe("/metrics in SGLang's names", () => {
  it('serves the series routers read beside the ts_engine_* ones', async () => {
    const m = await engine.metrics();
    const text = (await app.inject({ url: '/metrics' })).payload;
    for (const line of [
      'sglang:num_running_reqs{model_name="tiny"} 0',
      'sglang:num_queue_reqs{model_name="tiny"} 0',
      'sglang:num_used_tokens{model_name="tiny"} 0',
      'sglang:token_usage{model_name="tiny"} 0',
      'sglang:max_total_num_tokens{model_name="tiny"} 1024',
      `sglang:prompt_tokens_total{model_name="tiny"} ${m.promptTokensTotal}`,
      `sglang:generation_tokens_total{model_name="tiny"} ${m.generatedTokensTotal}`,
      `sglang:num_requests_total{model_name="tiny"} ${m.requestsTotal}`,
      `sglang:cache_hit_rate{model_name="tiny"} ${(m.ranks[0]?.cachedTokensTotal ?? 0) / m.promptTokensTotal}`,
      'sglang:utilization{model_name="tiny"} 0',
      'ts_engine_running_requests 0',
    ]) {
      expect(text).toContain(`${line}\n`);
    }
    // A counter still at 0 (no request aborted) is left out, as prom-client writes it.
    expect(m.abortedRequestsTotal).toBe(0);
    expect(text).not.toContain('sglang:num_aborted_requests_total{');
  });
});
