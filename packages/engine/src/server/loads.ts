import type { FastifyInstance } from 'fastify';
import * as z from 'zod';
import type { EngineMetrics } from '../engine-api.js';
import type { RouteContext } from './context.js';
import { parseBody, RequestError } from './errors.js';
import { engineVersion } from './version.js';

/** SGLang's section names; `spec`, `lora`, `disagg` and `queues` have nothing here and are omitted, as SGLang omits sections an engine does not report. */
const SECTIONS = ['core', 'memory', 'spec', 'lora', 'disagg', 'queues', 'all'] as const;

const loadsQuery = z
  .object({
    include: z.string().nullish(),
    dp_rank: z.coerce.number().int().nonnegative().nullish(),
  })
  .nullish();

/**
 * `GET /v1/loads` (and `/get_loads`), SGLang's load report: per data-parallel rank the
 * running and waiting requests, KV tokens held and the generation rate; `include` names the
 * sections (`core`, the default; `memory`: bytes each memory tag holds; `all`), `dp_rank` one
 * rank. Routers poll it (sgl-model-gateway asks for `core,disagg,queues,memory`), RL rollouts
 * wait on it after an abort (slime).
 */
export function registerLoadsRoute(app: FastifyInstance, { engine }: RouteContext): void {
  let last: { at: number; generated: number[] } | null = null;
  const handler = async (request: { query: unknown }) => {
    const query = parseBody(loadsQuery, request.query);
    const sections = sectionsOf(query?.include ?? 'core');
    const m = await engine.metrics();
    const now = Date.now();
    const seconds = last ? (now - last.at) / 1000 : 0;
    const rate = (rank: number, total: number) =>
      last && seconds > 0 ? Math.max(0, total - (last.generated[rank] ?? total)) / seconds : 0;
    const loads = m.ranks
      .filter((r) => query?.dp_rank == null || r.rank === query.dp_rank)
      .map((r) => ({
        dp_rank: r.rank,
        num_running_reqs: r.runningRequests,
        num_waiting_reqs: r.waitingRequests,
        num_total_reqs: r.runningRequests + r.waitingRequests,
        num_used_tokens: r.usedTokens,
        max_total_num_tokens: r.totalTokens,
        token_usage: r.totalTokens > 0 ? r.usedTokens / r.totalTokens : 0,
        gen_throughput: rate(r.rank, r.generatedTokensTotal),
        cache_hit_rate: r.promptTokensTotal > 0 ? r.cachedTokensTotal / r.promptTokensTotal : 0,
        // The running batch's share of what it may hold.
        utilization: r.maxRunningRequests > 0 ? r.runningRequests / r.maxRunningRequests : 0,
        max_running_requests: r.maxRunningRequests,
      }));
    if (query?.dp_rank != null && loads.length === 0)
      throw new RequestError(400, `dp_rank: no rank ${query.dp_rank} (dp-size ${m.ranks.length})`);
    last = { at: now, generated: m.ranks.map((r) => r.generatedTokensTotal) };
    return {
      timestamp: new Date(now).toISOString(),
      version: engineVersion(),
      dp_rank_count: m.ranks.length,
      loads,
      aggregate: aggregate(loads),
      ...(sections.has('memory') ? { memory: memoryOf(m) } : {}),
    };
  };
  app.get('/v1/loads', handler);
  app.get('/get_loads', handler);

  // SGLang's older shim, which ROLL polls until a worker is idle.
  app.get('/get_load', async () => {
    const m = await engine.metrics();
    return m.ranks.map((r) => ({
      dp_rank: r.rank,
      num_reqs: r.runningRequests + r.waitingRequests,
      num_waiting_reqs: r.waitingRequests,
      num_tokens: r.usedTokens,
      num_pending_tokens: 0,
      ts_tic: Date.now() / 1000,
    }));
  });
}

function sectionsOf(include: string): Set<string> {
  const names = include
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const unknown = names.filter((n) => !(SECTIONS as readonly string[]).includes(n));
  if (unknown.length > 0)
    throw new RequestError(
      400,
      `include: unknown sections [${unknown.join(', ')}]; served: ${SECTIONS.join(', ')}`,
    );
  return new Set<string>(names.includes('all') ? SECTIONS : names);
}

function aggregate(
  loads: {
    num_running_reqs: number;
    num_waiting_reqs: number;
    token_usage: number;
    gen_throughput: number;
    utilization: number;
  }[],
) {
  const sum = (pick: (l: (typeof loads)[number]) => number) =>
    loads.reduce((n, l) => n + pick(l), 0);
  return {
    total_running_reqs: sum((l) => l.num_running_reqs),
    total_waiting_reqs: sum((l) => l.num_waiting_reqs),
    total_reqs: sum((l) => l.num_running_reqs + l.num_waiting_reqs),
    avg_token_usage: loads.length > 0 ? sum((l) => l.token_usage) / loads.length : 0,
    avg_throughput: loads.length > 0 ? sum((l) => l.gen_throughput) / loads.length : 0,
    avg_utilization: loads.length > 0 ? sum((l) => l.utilization) / loads.length : 0,
  };
}

function memoryOf(m: EngineMetrics) {
  return { is_sleeping: m.isSleeping, resident_bytes: m.residentBytesByTag };
}
