// @module-tag cuda
/**
 * verl driving `ts-engine serve` through its SGLang HTTP adapter, in verl's order: launch probes,
 * rollouts, the checkpoint engine's abort / resume generation around a sync, an
 * `abort_request {rid: "", abort_all: true}` with rollouts in flight, sleep (kv_cache + weights),
 * wake weights, weight update, flush, wake kv_cache, and the partial rollouts resent. Sources
 * (verl-project/verl):
 *   verl/workers/rollout/sglang_rollout/http_server_engine.py  launch_server_process (health and
 *       flush loops), AsyncHttpServerAdapter.generate / abort_request / release / resume / flush_cache
 *       / available_models, _make_async_request (raises on any HTTP error), _read_async_response
 *   verl/workers/rollout/sglang_rollout/sglang_rollout.py      ServerAdapter.release / resume /
 *       update_weights (the tags, the flush after the weights)
 *   verl/workers/engine_workers.py                            the order: resume weights, update, resume kv_cache
 *   verl/checkpoint_engine/base.py, .../async_sglang_server.py abort_all_requests = pause {mode: abort},
 *       resume_generation = continue
 */
import { describe, expect, it } from 'vitest';
import { flushCache, releaseMemory, resumeMemory, updateWeightsFromDisk } from './control.js';
import { resendAndCompareWithFresh, settleAborted, startRollouts } from './rollouts.js';
import { secondCheckpoint, serve } from './server.js';
import { getOk, getUntil200, postOk, type Reply } from './wire.js';

/** AsyncHttpServerAdapter.generate: the None fields are dropped before sending. */
function generateBody(inputIds: number[], maxNewTokens: number) {
  return {
    input_ids: inputIds,
    sampling_params: {
      temperature: 0,
      top_p: 1.0,
      top_k: -1,
      repetition_penalty: 1.0,
      max_new_tokens: maxNewTokens,
    },
    return_logprob: true,
  };
}

/** _read_async_response: an empty body (or 204) reads as {}, else JSON, else {content_type, text}. */
function readAsync(r: Reply): unknown {
  if (r.status === 204 || r.text === '') return {};
  return r.json ?? { content_type: r.contentType, text: r.text };
}

describe('verl over HTTP', () => {
  it('launch, rollouts aborted by rid "" + abort_all and by the checkpoint engine, sleep, weights, wake, partials resent', async () => {
    const url = await serve();
    const second = secondCheckpoint();

    // launch_server_process: /health_generate until 200, then /flush_cache until 200.
    await getUntil200(url, '/health_generate');
    await flushCache(url);

    // The checkpoint engine's abort_replicas / resume_generation_replicas around a weight sync:
    // in flight rollouts end with finish_reason abort, then generation goes on.
    const first = await startRollouts(url, generateBody);
    await postOk(
      url,
      '/pause_generation',
      { mode: 'abort' },
      'POST /pause_generation {mode: abort}',
    );
    await postOk(url, '/continue_generation', {});
    await settleAborted(first);

    // Rollouts, then AsyncHttpServerAdapter.abort_request() with its defaults rid="" and
    // abort_all=True; any HTTP error would raise in verl (no retry on a status).
    const rollouts = await startRollouts(url, generateBody);
    const abort = await postOk(url, '/abort_request', { rid: '', abort_all: true });
    expect(typeof readAsync(abort)).toBe('object');
    const { partial } = await settleAborted(rollouts);

    // ServerAdapter.release (sleep_level 2): kv_cache and weights; cuda_graph stays.
    await releaseMemory(url, ['kv_cache', 'weights']);
    const versionBefore = (await getOk(url, '/model_info')).json.weight_version;

    // engine_workers: 1. resume weights; 3. update_weights (then flush_cache); 4. resume kv_cache.
    await resumeMemory(url, ['weights']);
    // verl pushes CUDA IPC handles to /update_weights_from_tensor, which has no CPU equivalent;
    // the same checkpoint goes in from disk here.
    await updateWeightsFromDisk(url, { model_path: second });
    await flushCache(url);
    await resumeMemory(url, ['kv_cache']);
    expect((await getOk(url, '/is_sleeping')).json.is_sleeping).toBe(false);

    // An update that names no version keeps the version (SGLang's behaviour); verl keeps its
    // global steps itself.
    expect((await getOk(url, '/model_info')).json.weight_version).toBe(versionBefore);
    // The LoRA path lists the served models.
    const models = (await getOk(url, '/v1/models')).json;
    expect(models.data.every((m: { id: unknown }) => typeof m.id === 'string')).toBe(true);

    // Partial rollouts resumed (fully async rollouter): prompt + response so far, the rest of the budget.
    const bodies = partial.map(({ tokens, left }) => generateBody(tokens, left));
    await resendAndCompareWithFresh(url, second, bodies);
  });
});
