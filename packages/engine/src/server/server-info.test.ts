import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../engine/engine.js';
import { createServer } from './create-server.js';
import { launchTiny } from './tiny-engine.test-helpers.js';

// The info and metrics routes against the real engine on builtin:tiny (64 pages of 16 tokens,
// a context of 256), one for the file.
let engine: Engine;
let app: FastifyInstance;
beforeAll(async () => {
  engine = await launchTiny({ maxContext: 256 });
  app = createServer(engine, { modelName: 'tiny' });
});
afterAll(async () => {
  await app?.close();
  await engine?.shutdown();
});

describe('info and metrics', () => {
  it("serves /get_server_info (and /server_info) in SGLang's names", async () => {
    const info = (await app.inject({ url: '/get_server_info' })).json();
    expect(info).toEqual({
      model_path: 'builtin:tiny',
      served_model_name: 'tiny',
      dp_size: 1,
      tp_size: 1,
      page_size: 16,
      max_running_requests: 64,
      chunked_prefill_size: 2048,
      context_length: 256,
      kv_memory_fraction: 0.3,
      max_total_num_tokens: 1024,
      disable_radix_cache: false,
      disable_cuda_graph: false,
      disable_overlap_schedule: false,
      enable_deterministic_inference: false,
      device: 'cpu',
      dtype: 'float32',
      weight_version: 'default',
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      pp_size: 1,
      ep_size: 1,
      nnodes: 1,
      node_rank: 0,
      host: '',
      port: 0,
      base_gpu_id: 0,
      gpu_id_step: 1,
      enable_memory_saver: true,
      disaggregation_mode: 'null',
      load_balance_method: 'round_robin',
      max_total_tokens: null,
      tokenizer_path: 'builtin:tiny',
      random_seed: null,
      is_embedding: false,
      internal_states: [{ weight_version: 'default', is_sleeping: false }],
    });
    expect((await app.inject({ url: '/server_info' })).json()).toEqual(info);
    // Not an SGLang route: a router takes a 2xx /version for vLLM (sgl-model-gateway).
    expect((await app.inject({ url: '/version' })).statusCode).toBe(404);
  });

  it('serves /health, /model_info, /v1/models and OpenAI-shaped 404s under /v1', async () => {
    expect((await app.inject({ url: '/health' })).json()).toEqual({});
    const info = (await app.inject({ url: '/model_info' })).json();
    expect(info).toEqual({
      model_path: 'builtin:tiny',
      tokenizer_path: 'builtin:tiny',
      is_generation: true,
      served_model_name: 'tiny',
      architecture: 'LlamaForCausalLM',
      vocab_size: 258,
      max_context: 256,
      dtype: 'float32',
      device: 'cpu',
      dp_size: 1,
      has_chat_template: false,
      weight_version: 'default',
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      has_image_understanding: false,
      has_audio_understanding: false,
      preferred_sampling_params: null,
    });
    expect((await app.inject({ url: '/get_model_info' })).json()).toEqual(info);
    expect((await app.inject({ url: '/v1/models' })).json()).toEqual({
      object: 'list',
      data: [
        {
          id: 'tiny',
          object: 'model',
          created: expect.any(Number),
          owned_by: 'sglang',
          root: 'builtin:tiny',
          max_model_len: 256,
        },
      ],
    });
    const missing = await app.inject({ url: '/v1/embeddings', method: 'POST' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error).toMatchObject({ type: 'not_found_error' });
  });

  it('serves Prometheus text from engine.metrics()', async () => {
    await app.inject({
      method: 'POST',
      url: '/generate',
      payload: { text: 'x', sampling_params: { max_new_tokens: 2, ignore_eos: true } },
    });
    await app.inject({
      method: 'POST',
      url: '/release_memory_occupation',
      payload: { tags: ['weights'] },
    });
    await app.inject({ url: '/metrics' });
    const res = await app.inject({ url: '/metrics' });
    const m = await engine.metrics();
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = res.payload;
    for (const line of [
      'ts_engine_is_sleeping 1',
      'ts_engine_resident_bytes{tag="weights"} 0',
      `ts_engine_resident_bytes{tag="kv_cache"} ${m.residentBytesByTag.kv_cache}`,
      'ts_engine_release_duration_seconds_count 1',
      'ts_engine_release_duration_seconds_bucket{le="+Inf"} 1',
      'ts_engine_waiting_requests 0',
      'ts_engine_running_requests 0',
      'ts_engine_prompt_tokens_total 2',
      'ts_engine_generated_tokens_total 2',
      'ts_engine_requests_total 1',
      'ts_engine_forward_passes_total 2',
      'ts_engine_generation_tokens_per_second 0',
    ]) {
      expect(text).toContain(`${line}\n`);
    }
  });
});

describe('deterministic inference in /get_server_info', () => {
  it("reports the launch option as SGLang's enable_deterministic_inference", async () => {
    const deterministic = await launchTiny({ device: 'cpu', deterministic: true });
    const server = createServer(deterministic, { modelName: 'tiny' });
    try {
      const info = (await server.inject({ url: '/get_server_info' })).json();
      expect(info.enable_deterministic_inference).toBe(true);
      expect((await server.inject({ url: '/server_info' })).json()).toEqual(info);
    } finally {
      await server.close();
      await deterministic.shutdown();
    }
  });
});
