// @module-tag cuda
/**
 * alibaba/ROLL driving two `ts-engine serve` workers as its SGLang HTTP engines, in ROLL's order:
 * rollouts with ROLL's rids spread over the workers, every rid's abort sent to every worker (most
 * of them do not hold it), /get_load until idle, offload, reload weights, weight update, load
 * states (flush + resume KV), the unfinished rollouts resent with their partial output, and the
 * rebalance's abort_all. Sources (alibaba/ROLL):
 *   roll/distributed/strategy/sglang_strategy.py  SglangHttpEngine (wait_worker_healthy,
 *       release/resume/flush bodies), offload_states / _reload_model / load_states,
 *       create_sampling_params_for_sglang, postprocess_generate
 *   roll/distributed/scheduler/router.py          RouterClient._preprocess_generate (rid, body),
 *       SglangRouter.abort_requests / abort_all_worker / get_worker_loads / wait_worker_complete
 *   roll/distributed/scheduler/user_defined_rollout_loop.py  unfinished (aborted) responses resent
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { abortAll, releaseMemory, resumeMemory, updateWeightsFromDisk } from './control.js';
import {
  expectSameAsFresh,
  PROMPTS,
  ROLLOUT_TOKENS,
  rolloutReplies,
  settleAborted,
  whileDecoding,
} from './rollouts.js';
import { secondCheckpoint, serve } from './server.js';
import { get, getOk, ok, post, postOk, type Reply, until } from './wire.js';

/** RouterClient._preprocess_generate + create_sampling_params_for_sglang (greedy). */
function generateBody(rid: string, inputIds: number[], maxNewTokens: number) {
  return {
    rid,
    input_ids: inputIds,
    sampling_params: {
      max_new_tokens: maxNewTokens,
      temperature: 0,
      top_p: 1.0,
      top_k: -1,
      stop_token_ids: [2, 2], // [eos_token_id, pad_token_id]
      repetition_penalty: 1.0,
      n: 1,
      stop: null,
      no_stop_trim: true,
    },
    return_logprob: true,
    return_routed_experts: false,
  };
}

/** postprocess_generate: ids, logprobs cut to the same length, finish reasons as strings. */
function postprocess(r: Reply) {
  const chunks = Array.isArray(r.json) ? r.json : [r.json];
  return chunks.map((c) => {
    const logprobs = (c.meta_info.output_token_logprobs ?? []).map((e: number[]) => e[0]);
    expect(logprobs).toHaveLength(c.output_ids.length);
    const reason = c.meta_info.finish_reason;
    return {
      ids: c.output_ids as number[],
      reason: typeof reason === 'object' ? reason.type : reason,
    };
  });
}

/** SglangRouter.wait_worker_complete: /get_load until every rank is idle. */
async function waitComplete(url: string): Promise<void> {
  const idle = (r: Reply) =>
    r.status !== 200 ||
    (r.json as { num_reqs: number; num_waiting_reqs: number }[]).every(
      (l) => l.num_reqs === 0 && l.num_waiting_reqs === 0,
    );
  const loads = await until(() => get(url, '/get_load'), idle);
  ok(loads, 'GET /get_load');
  expect(Array.isArray(loads.json)).toBe(true);
  for (const l of loads.json) {
    expect(Number.isInteger(l.num_reqs) && Number.isInteger(l.num_waiting_reqs)).toBe(true);
  }
}

describe('ROLL over HTTP', () => {
  it("ROLL's launcher waits on /health_generate_original (a route it adds to the SGLang it starts)", async () => {
    const url = await serve();
    const r = await until(
      () => get(url, '/health_generate_original'),
      (x) => x.status !== 503,
    );
    ok(r, 'GET /health_generate_original');
  });

  it('two workers: rollouts, every abort to every worker, /get_load, offload, weights, load states, resend', async () => {
    const workers = await Promise.all([serve(), serve()]);
    const second = secondCheckpoint();
    const rids = PROMPTS.map(() => randomUUID());
    const at = (i: number) => workers[i % 2] as string;
    const rollouts = PROMPTS.map((p, i) =>
      post(at(i), '/generate', generateBody(rids[i] as string, p, ROLLOUT_TOKENS)),
    );
    await Promise.all(workers.map((w) => whileDecoding(w, 24)));

    // abort_requests: for request_id in request_ids for url in worker_urls, raise_for_status each.
    const aborts = rids.flatMap((rid) => workers.map((w) => post(w, '/abort_request', { rid })));
    for (const r of await Promise.all(aborts)) ok(r, 'POST /abort_request {rid} (held or not)');
    for (const w of workers) await waitComplete(w);
    const { replies, partial } = await settleAborted(rollouts);
    for (const [i, r] of replies.entries()) {
      expect(r.json.meta_info.id).toBe(rids[i]);
      postprocess(r);
    }

    // offload_states (colocated): release everything; _reload_model: weights first.
    for (const w of workers) await releaseMemory(w);
    const versionBefore = (await getOk(at(0), '/model_info')).json.weight_version;
    for (const w of workers) {
      await resumeMemory(w, ['weights']);
      // ROLL broadcasts over NCCL or sends IPC buckets; the same weights come from disk here.
      await updateWeightsFromDisk(w, { model_path: second });
    }
    // load_states: flush_cache (POST with {}), then resume the KV cache and the graphs.
    for (const w of workers) {
      await postOk(w, '/flush_cache', {});
      await resumeMemory(w, ['kv_cache', 'cuda_graph']);
    }
    expect((await getOk(at(0), '/model_info')).json.weight_version).toBe(versionBefore);

    // The unfinished responses go out again with their partial output (postprocess_paused_data).
    const bodies = partial.map(({ tokens, left }) => generateBody(randomUUID(), tokens, left));
    const resent = await rolloutReplies(bodies.map((b, k) => post(at(k), '/generate', b)));
    for (const r of resent) {
      expect(postprocess(r)[0]?.reason).not.toBe('abort');
    }
    // rebalance_on_shrink / _on_expand: abort_all on every worker.
    for (const w of workers) await abortAll(w);
    await expectSameAsFresh(
      second,
      bodies.map((b) => ({ ...b, rid: randomUUID() })),
      resent,
    );
  });
});
