// @module-tag cuda
/**
 * inclusionAI/AReaL driving `ts-engine serve` as its remote SGLang engine, colocated with the
 * trainer, in AReaL's order: launch probes, the initial offload, then a training step (onload,
 * continue, rollouts, pause with rollouts in flight, offload, the disk weight update with
 * abort_all_requests bracketed by pause / continue while every tag is released), and the next
 * step (onload, continue, interrupted rollouts resent with their output appended). Sources
 * (inclusionAI/AReaL):
 *   areal/infra/launcher/sglang_server.py  wait_for_server (/v1/models with "Bearer None")
 *   areal/engine/sglang_remote.py          every request body: generate, pause, continue, health,
 *                                          offload / onload, update_weights_from_disk
 *   areal/infra/remote_inf_engine.py       check_health, agenerate (the resend loop), pause_generation
 *   areal/infra/utils/http.py              arequest_with_retry (raise_for_status; JSON by content type)
 *   areal/trainer/rl_trainer.py            _apply_initial_offload_policy, _onload_rollout, _offload_rollout
 *   areal/engine/fsdp_engine.py            _update_weights_from_disk: pause, update, continue
 */
import { describe, expect, it } from 'vitest';
import { updateWeightsFromDisk } from './control.js';
import { resendAndCompareWithFresh, settleAborted, startRollouts } from './rollouts.js';
import { secondCheckpoint, serve } from './server.js';
import { getOk, getUntil200, getWithBody, ok, post, type Reply } from './wire.js';

/** SGLangBackend.build_generation_request with GenerationHyperparameters' defaults, greedy. */
function generateBody(inputIds: number[], maxNewTokens: number) {
  return {
    input_ids: inputIds,
    image_data: null,
    sampling_params: {
      top_p: 1.0,
      top_k: 100_000_000,
      max_new_tokens: maxNewTokens,
      temperature: 0.0,
      stop_token_ids: [2],
      ignore_eos: false,
      skip_special_tokens: true,
      frequency_penalty: 0.0,
    },
    return_logprob: true,
    stream: false,
  };
}

/** arequest_with_retry: raise_for_status, then JSON only for `application/json`. */
function areq(r: Reply, what: string): unknown {
  ok(r, what);
  return r.contentType.split(';')[0] === 'application/json' ? r.json : r.text;
}

/** parse_generation_response: what AReaL takes from a reply. */
function parse(r: Reply) {
  const result = areq(r, 'POST /generate');
  expect(typeof result === 'object' && result !== null, 'AReaL wants a JSON dict').toBe(true);
  const m = r.json.meta_info;
  expect(typeof (m.finish_reason.message ?? '')).toBe('string');
  return {
    tokens: m.output_token_logprobs.map((x: number[]) => x[1]) as number[],
    stop: m.finish_reason.type as string,
  };
}

describe('AReaL over HTTP', () => {
  it('init, a step with rollouts interrupted and a disk update while released, the next step resending them', async () => {
    const url = await serve();
    const second = secondCheckpoint();

    // wait_for_server, then check_health: GET /health with json={}.
    await getUntil200(url, '/v1/models', { headers: { Authorization: 'Bearer None' } });
    ok(await getWithBody(url, '/health', {}), 'GET /health with a JSON body');

    // _apply_initial_offload_policy -> _offload_rollout: pause_generation, then offload.
    areq(await post(url, '/pause_generation', {}), 'POST /pause_generation');
    areq(await post(url, '/release_memory_occupation', {}), 'POST /release_memory_occupation');

    // Step 1, _onload_rollout: onload (tags None -> {}), continue_generation.
    areq(await post(url, '/resume_memory_occupation', {}), 'POST /resume_memory_occupation');
    areq(await post(url, '/continue_generation', {}), 'POST /continue_generation');
    const rollouts = await startRollouts(url, generateBody);

    // _offload_rollout with rollouts still in flight: they come back aborted, with what they had.
    areq(await post(url, '/pause_generation', {}), 'POST /pause_generation');
    areq(await post(url, '/release_memory_occupation', {}), 'POST /release_memory_occupation');
    const { partial } = await settleAborted(rollouts);
    for (const r of partial) parse(r.reply);

    // (train) then actor.update_weights -> _update_weights_from_disk, every tag still released.
    const versionBefore = (await getOk(url, '/model_info')).json.weight_version;
    areq(await post(url, '/pause_generation', {}), 'POST /pause_generation (weights released)');
    await updateWeightsFromDisk(
      url,
      { model_path: second, abort_all_requests: true },
      'POST /update_weights_from_disk while every tag is released',
    );
    areq(
      await post(url, '/continue_generation', {}),
      'POST /continue_generation (every tag released)',
    );
    expect((await getOk(url, '/is_sleeping')).json.is_sleeping).toBe(true);

    // Step 2, _onload_rollout: the backup holds the new weights; agenerate resends each
    // interrupted request with input_ids += output_tokens and max_new_tokens -= len(output).
    areq(await post(url, '/resume_memory_occupation', {}), 'POST /resume_memory_occupation');
    areq(await post(url, '/continue_generation', {}), 'POST /continue_generation');
    expect((await getOk(url, '/model_info')).json.weight_version).toBe(versionBefore);
    const bodies = partial.map(({ reply, prompt, left }) =>
      generateBody([...prompt, ...parse(reply).tokens], left),
    );
    const resent = await resendAndCompareWithFresh(url, second, bodies);
    for (const r of resent) expect(['stop', 'length']).toContain(parse(r).stop);
  });
});
