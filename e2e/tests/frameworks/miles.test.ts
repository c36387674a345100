// @module-tag cuda
/**
 * radixark/miles driving `ts-engine serve` as its SGLang engine, in miles' order: the colocated
 * loop (abort mid-flight, offload every tag, onload weights, pause in miles' default `retract`
 * mode, a weight-update session, a new version, continue, onload KV, partial rollouts resent), and
 * the fully-async loop (rollouts keep running across a `retract` / `in_place` pause and a weight
 * update). Sources (radixark/miles):
 *   miles/backends/sglang_utils/sglang_engine.py  health + flush loops, /get_server_info and
 *       /server_info, release/resume with tags, pause {mode}, continue, update_weights_from_disk,
 *       update_weight_version, begin/end_weight_update, get_weight_version (/model_info first)
 *   miles/rollout/sglang_rollout.py               /generate bodies, abort, the resend of partials
 *   miles/backends/megatron_utils/update_weight/update_weight_from_distributed/mixin.py and
 *   .../update_weight/common.py                  pause → flush → begin → weights → version → end → continue
 *   miles/ray/rollout/server_group.py, train.py  offload / onload tags and their order
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
  ROLLOUT_TOKENS,
  resendAndCompareWithFresh,
  rolloutReplies,
  settleAborted,
  startRollouts,
} from './rollouts.js';
import { LLAMA, secondCheckpoint, serve } from './server.js';
import { get, getOk, getUntil200, postOk } from './wire.js';

/** GenerateState.sampling_params (greedy here so the replay can be compared). */
function generateBody(tokens: number[], responseLength: number) {
  return {
    sampling_params: {
      temperature: 0,
      top_p: 1.0,
      top_k: -1,
      max_new_tokens: ROLLOUT_TOKENS - responseLength,
      stop: null,
      stop_token_ids: null,
      skip_special_tokens: true,
      no_stop_trim: true,
      spaces_between_special_tokens: false,
    },
    return_logprob: true,
    input_ids: tokens,
  };
}

/** _pause_and_prepare_engines + weights + _finalize_and_resume_engines, for `version`. */
async function updateWeights(url: string, mode: string, modelPath: string, version: string) {
  await postOk(url, '/pause_generation', { mode }, `POST /pause_generation {mode: ${mode}}`);
  if (mode !== 'in_place') await flushCache(url);
  await postOk(url, '/begin_weight_update', { selector: 'all' });
  // The NCCL / CUDA-IPC push has no CPU equivalent; miles reloads frozen groups from disk
  // (server_group.onload_weights_from_disk), which is the path replayed here.
  await updateWeightsFromDisk(url, { model_path: modelPath });
  await postOk(url, '/update_weight_version', { new_version: version, abort_all_requests: false });
  await postOk(url, '/end_weight_update', {});
  await postOk(url, '/continue_generation', {});
}

/** SGLangEngine.get_weight_version: /model_info first ("new sglang"), then /get_weight_version. */
async function weightVersion(url: string): Promise<string> {
  for (const path of ['/model_info', '/get_weight_version']) {
    const r = await get(url, path);
    if (r.status === 200) return r.json.weight_version;
  }
  throw new Error('no weight version');
}

describe('miles over HTTP', () => {
  it('start-up: health and flush loops, then /get_server_info checked against its own server args', async () => {
    const url = await serve();
    await getUntil200(url, '/health_generate');
    await flushCache(url);
    // _init_external asserts each of these equals what miles would have launched with
    // (one engine of one GPU, memory saver on for --offload-rollout).
    const info = (await getOk(url, '/get_server_info')).json;
    const port = Number(new URL(url).port);
    // Soft: the rest of the start-up still runs when a field is missing.
    expect
      .soft({
        enable_memory_saver: info.enable_memory_saver,
        port: info.port,
        nnodes: info.nnodes,
        node_rank: info.node_rank,
        gpu_id_step: info.gpu_id_step,
        base_gpu_id: info.base_gpu_id,
        tp_size: info.tp_size,
        dp_size: info.dp_size,
        pp_size: info.pp_size,
        ep_size: info.ep_size,
      })
      .toEqual({
        enable_memory_saver: true,
        port,
        nnodes: 1,
        node_rank: 0,
        gpu_id_step: 1,
        base_gpu_id: 0,
        tp_size: 1,
        dp_size: 1,
        pp_size: 1,
        ep_size: 1,
      });
    expect.soft(typeof info.host).toBe('string');
    await getOk(url, '/server_info');
  });

  it('colocated: abort mid-flight, offload all tags, retract pause, versioned update session, onload, partials resent', async () => {
    const url = await serve();
    const second = secondCheckpoint();
    const rollouts = await startRollouts(url, (p) => generateBody(p, 0));

    // sglang_rollout.abort: abort_all on every worker, then wait for the pending tasks.
    await abortAll(url);
    const { partial } = await settleAborted(rollouts);

    // train.py: offload tags [cuda_graph, kv_cache, weights] (default --offload-rollout-level).
    await flushCache(url);
    await releaseMemory(url, ['cuda_graph', 'kv_cache', 'weights']);
    await resumeMemory(url, ['weights']); // onload_weights
    await updateWeights(url, 'retract', second, '1');
    await resumeMemory(url, ['kv_cache', 'cuda_graph']); // onload_kv
    expect(await weightVersion(url)).toBe('1');

    // The partial samples come back: input_ids = sample.tokens (prompt + response so far).
    const bodies = partial.map(({ tokens, output }) => generateBody(tokens, output.length));
    const resent = await resendAndCompareWithFresh(url, second, bodies);
    for (const r of resent) expect(r.json.meta_info.weight_version).toBe('1');
  });

  it('fully async: rollouts in flight across a retract and an in_place pause with weight updates finish whole', async () => {
    const url = await serve();
    const second = secondCheckpoint();
    for (const [mode, path, version] of [
      ['retract', second, '1'],
      ['in_place', LLAMA, '2'],
    ] as const) {
      const rollouts = await startRollouts(url, (p) => generateBody(p, 0));
      await updateWeights(url, mode, path, version);
      const replies = await rolloutReplies(rollouts);
      for (const r of replies) {
        // Nothing is lost across the pause: each rollout ends on its own terms, none aborted.
        expect(r.json.meta_info.finish_reason.type, mode).not.toBe('abort');
        expect(r.json.meta_info.weight_version).toBe(version);
      }
      expect(await weightVersion(url)).toBe(version);
    }
  });
});
