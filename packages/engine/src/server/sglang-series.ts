import type { Registry } from 'prom-client';
import type { EngineMetrics } from '../engine-api.js';
import { type Series, seriesIn, throughput } from './metric-series.js';

type Rank = EngineMetrics['ranks'][number];

/** A sum over the ranks. */
function overRanks(m: EngineMetrics, pick: (rank: Rank) => number): number {
  return m.ranks.reduce((n, r) => n + pick(r), 0);
}

/** `part / whole`, 0 while the whole is 0. */
function share(part: number, whole: number): number {
  return whole > 0 ? part / whole : 0;
}

const cacheHitRate = (m: EngineMetrics) =>
  share(
    overRanks(m, (r) => r.cachedTokensTotal),
    overRanks(m, (r) => r.promptTokensTotal),
  );
const utilization = (m: EngineMetrics) =>
  share(
    m.runningRequests,
    overRanks(m, (r) => r.maxRunningRequests),
  );

/**
 * The series SGLang's scheduler exports under the names routers and monitors read
 * (sgl-model-gateway's load monitor among them), labelled with the served model name.
 */
export function sglangSeries(registry: Registry): Series[] {
  const { gauge, counter } = seriesIn(registry, { byModel: true, prefix: 'sglang:' });
  return [
    gauge('num_running_reqs', 'Requests in the running batch', (m) => m.runningRequests),
    gauge('num_queue_reqs', 'Requests waiting in the queue', (m) => m.waitingRequests),
    gauge('num_used_tokens', 'KV tokens the running requests hold', (m) => m.usedTokens),
    gauge('token_usage', 'Share of the KV pool the running requests hold', (m) =>
      share(m.usedTokens, m.totalTokens),
    ),
    gauge('gen_throughput', 'Tokens generated per second since the previous scrape', throughput),
    gauge('max_total_num_tokens', 'KV tokens the pools hold in all', (m) => m.totalTokens),
    gauge('cache_hit_rate', 'Share of prompt tokens the prefix cache gave', cacheHitRate),
    gauge('utilization', 'Running requests as a share of the most that may run', utilization),
    counter('prompt_tokens_total', 'Prompt tokens of all requests', (m) => m.promptTokensTotal),
    counter('generation_tokens_total', 'Tokens generated', (m) => m.generatedTokensTotal),
    counter('num_requests_total', 'Requests received', (m) => m.requestsTotal),
    counter(
      'num_aborted_requests_total',
      'Requests that ended with finish reason abort',
      (m) => m.abortedRequestsTotal,
    ),
  ];
}
