import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createServer } from './create-server.js';
import { FakeEngine } from './server.test-helpers.js';

let engine: FakeEngine;
let app: FastifyInstance;
beforeEach(() => {
  engine = new FakeEngine();
  app = createServer(engine, { modelName: 'tiny' });
});
afterEach(() => app.close());

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
          num_running_reqs: 1,
          num_waiting_reqs: 2,
          num_total_reqs: 3,
          num_used_tokens: 96,
          max_total_num_tokens: 4096,
          token_usage: 96 / 4096,
          gen_throughput: 0,
          cache_hit_rate: 4 / 10,
          utilization: 1 / 32,
          max_running_requests: 32,
        },
      ],
      aggregate: {
        total_running_reqs: 1,
        total_waiting_reqs: 2,
        total_reqs: 3,
        avg_token_usage: 96 / 4096,
        avg_throughput: 0,
        avg_utilization: 1 / 32,
      },
    });
    engine.generated += 500;
    await new Promise((resolve) => setTimeout(resolve, 50));
    const second = (await app.inject({ url: '/get_loads' })).json();
    expect(second.loads[0].gen_throughput).toBeGreaterThan(0);
    expect(second.loads[0].gen_throughput).toBeLessThan(500 / 0.04);
  });

  it('adds the memory section with include=all, and refuses unknown sections and ranks', async () => {
    const all = (await app.inject({ url: '/v1/loads?include=all' })).json();
    expect(all.memory).toEqual({
      is_sleeping: false,
      resident_bytes: { weights: 4096, kv_cache: 8192 },
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
        num_reqs: 3,
        num_waiting_reqs: 2,
        num_tokens: 96,
        num_pending_tokens: 0,
        ts_tic: expect.any(Number),
      },
    ]);
  });
});

describe("/metrics in SGLang's names", () => {
  it('serves the series routers read beside the ts_engine_* ones', async () => {
    const text = (await app.inject({ url: '/metrics' })).payload;
    for (const line of [
      'sglang:num_running_reqs{model_name="tiny"} 1',
      'sglang:num_queue_reqs{model_name="tiny"} 2',
      'sglang:num_used_tokens{model_name="tiny"} 96',
      `sglang:token_usage{model_name="tiny"} ${96 / 4096}`,
      'sglang:gen_throughput{model_name="tiny"} 0',
      'sglang:max_total_num_tokens{model_name="tiny"} 4096',
      'sglang:prompt_tokens_total{model_name="tiny"} 10',
      'sglang:generation_tokens_total{model_name="tiny"} 30',
      'sglang:num_requests_total{model_name="tiny"} 4',
      'sglang:num_aborted_requests_total{model_name="tiny"} 1',
      'sglang:cache_hit_rate{model_name="tiny"} 0.4',
      `sglang:utilization{model_name="tiny"} ${1 / 32}`,
      'ts_engine_running_requests 1',
    ]) {
      expect(text).toContain(`${line}\n`);
    }
  });
});
