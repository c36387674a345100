// @module-tag cuda
/**
 * sgl-model-gateway (lightseekorg/smg) with `ts-engine serve --dp-size 2` as an HTTP worker, in the
 * gateway's order: registration probes (health, backend detection, /server_info and /model_info
 * with the gateway's types, DP discovery), DP-aware forwarding of the RL framework's rollouts,
 * the load monitor (/v1/loads, then /metrics) while they run, the framework's abort, the gateway's
 * bodiless flush, a versioned weight update the gateway reads back, and the partial rollouts
 * resent through it. Sources (lightseekorg/smg):
 *   model_gateway/src/workflow/steps/local/detect_backend.rs    /v1/models owned_by, /version, /server_info
 *   model_gateway/src/workflow/steps/local/discover_metadata.rs ServerInfo / ModelInfo (typed) and the fallbacks
 *   model_gateway/src/workflow/steps/local/discover_dp.rs       dp_size from /server_info
 *   model_gateway/src/worker/worker.rs   http_health_check (/health), prepare_request (data_parallel_rank),
 *                                         flush_cache (admin_http_post, no body)
 *   model_gateway/src/routers/http/router.rs, crates/protocols/src/generate.rs  the forwarded /generate body
 *   model_gateway/src/worker/monitor.rs  fetch_http_load_native (/v1/loads), fetch_http_load_sglang (/metrics)
 */
import { describe, expect, it } from 'vitest';
import { abortAll, releaseMemory, resumeMemory, updateWeightsFromDisk } from './control.js';
import { resendAndCompareWithFresh, settleAborted, startRollouts } from './rollouts.js';
import { secondCheckpoint, serve } from './server.js';
import { get, getOk, postOk } from './wire.js';

/** The gateway re-serialises GenerateRequest: its defaults go out too, and the DP rank it picked. */
function forwarded(inputIds: number[], maxNewTokens: number, rank: number) {
  return {
    model: 'unknown',
    input_ids: inputIds,
    sampling_params: {
      temperature: 0,
      max_new_tokens: maxNewTokens,
      skip_special_tokens: true,
      no_stop_trim: true,
    },
    return_logprob: true,
    return_text_in_logprobs: false,
    stream: false,
    log_metrics: true,
    background: false,
    no_logs: false,
    return_bytes: false,
    return_entropy: false,
    data_parallel_rank: rank,
  };
}

/** serde: an Option<T> field may be missing or null, else it must have T's type or parsing fails. */
function expectTyped(body: Record<string, unknown>, types: Record<string, string>): void {
  for (const [key, type] of Object.entries(types)) {
    const v = body[key];
    if (v === undefined || v === null) continue;
    if (type === 'usize') expect(Number.isInteger(v) && (v as number) >= 0, key).toBe(true);
    else if (type === 'string[]')
      expect(Array.isArray(v) && v.every((s) => typeof s === 'string'), key).toBe(true);
    else expect(typeof v, key).toBe(type);
  }
}

const SERVER_INFO = {
  model_id: 'string',
  model: 'string',
  model_path: 'string',
  served_model_name: 'string',
  tp_size: 'usize',
  dp_size: 'usize',
  pp_size: 'usize',
  load_balance_method: 'string',
  disaggregation_mode: 'string',
  version: 'string',
  is_embedding: 'boolean',
  context_length: 'usize',
  max_total_tokens: 'usize',
  max_running_requests: 'usize',
  weight_version: 'string',
};
const MODEL_INFO = {
  model_path: 'string',
  tokenizer_path: 'string',
  is_generation: 'boolean',
  has_image_understanding: 'boolean',
  has_audio_understanding: 'boolean',
  model_type: 'string',
  architectures: 'string[]',
};

/** detect_http_backend: /v1/models owned_by, else /version (vLLM) before /server_info (SGLang). */
async function detect(url: string): Promise<string> {
  const models = await get(url, '/v1/models');
  const owner = models.status === 200 ? models.json.data?.[0]?.owned_by : undefined;
  if (owner === 'sglang' || owner === 'nvidia') return 'sglang';
  if (owner === 'vllm') return 'vllm';
  const [version, info] = await Promise.all([get(url, '/version'), get(url, '/server_info')]);
  if (version.status < 300) return 'vllm';
  return info.status < 300 ? 'sglang' : 'unknown';
}

/** fetch_http_load_sglang's reading of /metrics: the KV-usage gauge decides the prefix. */
function scrape(text: string) {
  const samples = new Map<string, number[]>();
  for (const line of text.split('\n')) {
    const m = /^([^\s{#]+)(?:\{[^}]*\})?\s+(\S+)/.exec(line.trim());
    if (m?.[1] && Number.isFinite(Number(m[2])))
      samples.set(m[1], [...(samples.get(m[1]) ?? []), Number(m[2])]);
  }
  const prefix = ['sglang:', 'sglang_'].find((p) => samples.has(`${p}token_usage`));
  const sum = (n: string) => (samples.get(`${prefix}${n}`) ?? []).reduce((a, b) => a + b, 0);
  return { prefix, running: sum('num_running_reqs'), queued: sum('num_queue_reqs') };
}

describe('sgl-model-gateway over HTTP', () => {
  it('registration, DP-aware rollouts under the load monitor, abort, flush, versioned update read back, resend', async () => {
    const url = await serve(undefined, ['--dp-size', '2']);
    const second = secondCheckpoint();

    await getOk(url, '/health');
    const models = (await getOk(url, '/v1/models')).json;
    expect(typeof models.data[0].id).toBe('string');
    expect.soft(models.data[0].owned_by, 'SGLang answers owned_by "sglang"').toBe('sglang');
    expect.soft(await detect(url), 'smg detects the runtime').toBe('sglang');
    const info: Record<string, unknown> = (await getOk(url, '/server_info')).json;
    expectTyped(info, SERVER_INFO);
    expect(info.dp_size).toBe(2);
    const model: Record<string, unknown> = (await getOk(url, '/model_info')).json;
    expectTyped(model, MODEL_INFO);
    expect.soft(Array.isArray(model.architectures), '/model_info architectures').toBe(true);
    expect(model.is_generation).toBe(true);

    // Rollouts through the gateway: worker url@rank, so each body names its rank.
    const rollouts = await startRollouts(url, (p, budget, i) => forwarded(p, budget, i % 2));
    const loads = (await getOk(url, '/v1/loads?include=core,disagg,queues,memory')).json;
    expect(loads.loads).toHaveLength(2);
    expect(loads.dp_rank_count).toBe(2);
    for (const l of loads.loads) {
      expectTyped(l, {
        dp_rank: 'usize',
        num_running_reqs: 'usize',
        num_waiting_reqs: 'usize',
        num_used_tokens: 'usize',
        max_total_num_tokens: 'usize',
        token_usage: 'number',
        gen_throughput: 'number',
        cache_hit_rate: 'number',
        utilization: 'number',
        max_running_requests: 'usize',
      });
    }
    expect(loads.loads.map((l: { dp_rank: number }) => l.dp_rank).sort()).toEqual([0, 1]);
    const busy = loads.loads.reduce(
      (n: number, l: { num_running_reqs: number; num_waiting_reqs: number }) =>
        n + l.num_running_reqs + l.num_waiting_reqs,
      0,
    );
    expect(busy).toBeGreaterThan(0);
    // data_parallel_rank is honoured: each rank holds the rollouts sent to it.
    for (const l of loads.loads) {
      expect(l.num_running_reqs + l.num_waiting_reqs, `rank ${l.dp_rank}`).toBeGreaterThan(0);
    }
    const metrics = scrape((await getOk(url, '/metrics')).text);
    expect(metrics.prefix, '/metrics has sglang:token_usage').toBeDefined();
    expect(metrics.running + metrics.queued).toBeGreaterThan(0);

    // The RL framework behind the gateway aborts on the worker; the gateway flushes with no body.
    await abortAll(url);
    const { partial } = await settleAborted(rollouts);
    await postOk(url, '/flush_cache', undefined, 'POST /flush_cache (no body)');

    await releaseMemory(url);
    await resumeMemory(url, ['weights']);
    await updateWeightsFromDisk(url, { model_path: second, weight_version: '2' });
    await resumeMemory(url, ['kv_cache', 'cuda_graph']);
    // Re-registration reads the version into the worker's labels.
    const again: Record<string, unknown> = (await getOk(url, '/server_info')).json;
    expectTyped(again, SERVER_INFO);
    expect(again.weight_version).toBe('2');
    await getOk(url, '/health');

    const bodies = partial.map(({ tokens, left, index }) => forwarded(tokens, left, index % 2));
    // A fresh single-rank server: the rank a request ran on changes nothing.
    const resent = await resendAndCompareWithFresh(
      url,
      second,
      bodies,
      bodies.map(({ data_parallel_rank: _, ...b }) => b),
    );
    for (const r of resent) expect(r.json.meta_info.weight_version).toBe('2');
  });
});
