// @module-tag cuda
/**
 * THUDM/slime driving `ts-engine serve` as its SGLang engine, call for call, in slime's order:
 * a rollout aborted mid-flight (partial rollouts kept), offload, train, onload weights, a disk
 * weight update with a version, onload KV, the partial rollouts resent. Sources (THUDM/slime):
 *   slime/backends/sglang_utils/sglang_engine.py  health, release/resume, flush, pause/continue,
 *                                                 update_weights_from_disk, get_weight_version
 *   slime/backends/sglang_utils/external.py       /server_info, /get_server_info
 *   slime/backends/sglang_utils/server_control.py /abort_request, /v1/loads?include=core
 *   slime/rollout/sglang_rollout.py               /generate bodies, the resend of partial rollouts
 *   slime/ray/rollout.py, slime/ray/actor_group.py, train.py   the order of the calls
 */
import { describe, expect, it } from 'vitest';
import {
  abortAll,
  flushCache,
  releaseMemory,
  resumeMemory,
  updateWeightsFromDisk,
} from './control.js';
import {
  generateAll,
  ROLLOUT_TOKENS,
  resendAndCompareWithFresh,
  settleAborted,
  startRollouts,
} from './rollouts.js';
import { secondCheckpoint, serve } from './server.js';
import { call, get, getOk, getUntil200, ok, post, postOk, until } from './wire.js';

/** GenerateState.sampling_params (rollout temperature 0 here, so the replay can be compared). */
const SAMPLING = {
  temperature: 0,
  top_p: 1.0,
  top_k: -1,
  max_new_tokens: ROLLOUT_TOKENS,
  stop: null,
  stop_token_ids: null,
  skip_special_tokens: true,
  no_stop_trim: true,
  spaces_between_special_tokens: false,
};

/** sglang_rollout.generate: the prompt, or prompt + the partial response, with what is left. */
function generateBody(tokens: number[], responseLength: number) {
  return {
    sampling_params: { ...SAMPLING, max_new_tokens: SAMPLING.max_new_tokens - responseLength },
    return_logprob: true,
    input_ids: tokens,
  };
}

/** server_control.num_requests_from_load: slime's reading of a /v1/loads reply. */
function numRequests(load: unknown): number {
  if (Array.isArray(load)) return load.reduce((n: number, l) => n + numRequests(l), 0);
  if (typeof load !== 'object' || load === null) return 0;
  const l = load as Record<string, unknown>;
  if ('loads' in l) return numRequests(l.loads);
  for (const key of ['num_reqs', 'num_total_reqs', 'total_reqs'])
    if (Number.isInteger(l[key])) return l[key] as number;
  const running = l.num_running_reqs ?? l.total_running_reqs;
  const waiting = l.num_waiting_reqs ?? l.total_waiting_reqs;
  return (
    (Number.isInteger(running) ? (running as number) : 0) +
    (Number.isInteger(waiting) ? (waiting as number) : 0)
  );
}

describe('slime over HTTP', () => {
  it('start-up probes: /health_generate with the api key header, /server_info for an external engine', async () => {
    const url = await serve();
    // sglang_engine._wait_server_healthy: loops until 200.
    await getUntil200(url, '/health_generate', { headers: { Authorization: 'Bearer None' } });
    // external.get_server_info tries /server_info then /get_server_info; discover_external_engines
    // reads the parallel sizes, _infer_worker_type the disaggregation fields, and _init_external
    // asserts enable_memory_saver equals --offload-rollout (true for a colocated run).
    for (const path of ['/server_info', '/get_server_info']) {
      const info = (await getOk(url, path)).json;
      for (const key of ['pp_size', 'tp_size', 'num_gpus']) {
        if (key in info) expect(Number.isInteger(Number(info[key])), key).toBe(true);
      }
      expect(info.encoder_only ?? false).toBe(false);
      expect(['null', undefined, null]).toContain(info.disaggregation_mode);
      expect
        .soft(info.enable_memory_saver, `${path} enable_memory_saver (slime asserts it)`)
        .toBe(true);
    }
  });

  it('eval: n samples per prompt with sampling_seed = rollout_seed + j, stop_token_ids, min_new_tokens', async () => {
    const url = await serve();
    // sglang_rollout.eval_rollout_single_dataset (deterministic inference on): base params plus
    // sampling_seed per sample index j; the same seed must give the same tokens.
    const base = { ...SAMPLING, temperature: 1.0, max_new_tokens: 16, stop_token_ids: [216] };
    const body = (seed: number, extra = {}) => ({
      sampling_params: { ...base, sampling_seed: seed, ...extra },
      return_logprob: true,
      input_ids: [1, 5, 9], // greedy: 3, 3, 216, ...
    });
    const group = await generateAll(
      url,
      [42, 43, 44, 42].map((seed) => body(seed)),
    );
    const ids = group.map((r) => r.json.output_ids);
    expect(ids[3]).toEqual(ids[0]);
    expect(new Set(ids.slice(0, 3).map((x) => x.join())).size).toBeGreaterThan(1);
    // A stop token ends the sample as 'stop' (Sample.Status.COMPLETED), the token kept in the ids.
    const greedy = ok(await post(url, '/generate', body(0, { temperature: 0 })), 'greedy').json;
    expect(greedy.meta_info.finish_reason).toMatchObject({ type: 'stop', matched: 216 });
    expect(greedy.output_ids.at(-1)).toBe(216);
    // eval_min_new_tokens: the stop token is banned until that many tokens are out.
    const longer = ok(
      await post(url, '/generate', body(0, { temperature: 0, min_new_tokens: 8 })),
      'min',
    ).json;
    expect(longer.output_ids.length).toBeGreaterThanOrEqual(8);
  });

  it('rollout, abort mid-flight, offload, weights from disk with a version, onload, partial rollouts resent', async () => {
    const url = await serve();
    const second = secondCheckpoint();

    // 1. generate_rollout_async: the groups go out at once.
    const rollouts = await startRollouts(url, (p) => generateBody(p, 0));

    // 2. abort(): every worker gets abort_all, then slime waits on /v1/loads until idle.
    await abortAll(url);
    const loads = await until(
      () => get(url, '/v1/loads?include=core'),
      (r) => r.status !== 200 || numRequests(r.json) === 0,
    );
    ok(loads, 'GET /v1/loads?include=core');
    expect(numRequests(loads.json)).toBe(0);
    expect(Array.isArray(loads.json.loads)).toBe(true);
    const { partial } = await settleAborted(rollouts);

    // 3. offload: flush_cache (until 200), then release every tag; the reply is read as JSON.
    await flushCache(url);
    expect((await releaseMemory(url)).json).toBeDefined();

    // 4. (train) then onload_weights, then _reload_rollout_weights_from_disk.
    await resumeMemory(url, ['weights']);
    await postOk(url, '/pause_generation', {}, 'POST /pause_generation while kv_cache is released');
    await flushCache(url);
    await updateWeightsFromDisk(url, { model_path: second, weight_version: '1' });
    // --ci-test: the engine's version must be the one just sent.
    const version = await getOk(url, '/get_weight_version');
    expect(String(version.json.weight_version)).toBe('1');
    await postOk(
      url,
      '/continue_generation',
      {},
      'POST /continue_generation while kv_cache is released',
    );

    // 5. onload_kv.
    await resumeMemory(url, ['kv_cache', 'cuda_graph']);
    ok(
      await call(url, 'GET', '/health_generate', undefined, {}, 5_000),
      'GET /health_generate (monitor)',
    );

    // 6. next rollout: the partial samples come back from the buffer; slime resends
    // prompt + partial response with max_new_tokens minus what is already there.
    const bodies = partial.map(({ tokens, output }) => generateBody(tokens, output.length));
    const resent = await resendAndCompareWithFresh(url, second, bodies);
    for (const r of resent) {
      expect(r.json.meta_info.weight_version).toBe('1');
      expect(r.json.meta_info.finish_reason.type).not.toBe('abort');
    }
  });
});
