import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import type { EngineMetrics } from '../engine-api.js';
import type { RouteContext } from './context.js';
import { type Series, seriesIn, throughput } from './metric-series.js';
import { sglangSeries } from './sglang-series.js';

/** This engine's own series, `ts_engine_*`. */
function engineSeries(registry: Registry): Series[] {
  const { gauge, counter, durations, bytesByTag } = seriesIn(registry, { prefix: 'ts_engine_' });
  return [
    gauge('is_sleeping', '1 while any tag is released', (m) => (m.isSleeping ? 1 : 0)),
    bytesByTag('resident_bytes', 'Bytes each memory tag physically holds, summed over ranks'),
    durations(
      'release_duration_seconds',
      'Duration of releaseMemoryOccupation calls',
      (m) => m.releaseSeconds,
    ),
    durations(
      'resume_duration_seconds',
      'Duration of resumeMemoryOccupation calls',
      (m) => m.resumeSeconds,
    ),
    gauge('waiting_requests', 'Requests in the queue', (m) => m.waitingRequests),
    gauge('running_requests', 'Requests in the batch', (m) => m.runningRequests),
    counter('prompt_tokens_total', 'Prompt tokens of all requests', (m) => m.promptTokensTotal),
    counter('generated_tokens_total', 'Tokens generated', (m) => m.generatedTokensTotal),
    counter('requests_total', 'Requests received', (m) => m.requestsTotal),
    counter(
      'forward_passes_total',
      'Forward passes of all ranks (flat while sleeping)',
      (m) => m.forwardPassesTotal,
    ),
    gauge(
      'generation_tokens_per_second',
      'Tokens generated per second since the previous scrape',
      throughput,
    ),
  ];
}

/**
 * The Prometheus metrics of one server, in a registry of its own (never the global one), set
 * from one `engine.metrics()` snapshot per scrape.
 */
export class EngineMetricsExporter {
  readonly registry = new Registry();
  private readonly series = [...engineSeries(this.registry), ...sglangSeries(this.registry)];
  private last: { at: number; tokens: number } | undefined;

  constructor(private readonly modelName: () => string = () => '') {}

  /** Sets every metric from a snapshot; `now` in milliseconds. */
  update(m: EngineMetrics, now = Date.now()): void {
    const previous = this.last;
    const seconds = previous ? (now - previous.at) / 1000 : 0;
    const delta = previous ? m.generatedTokensTotal - previous.tokens : 0;
    const throughput = seconds > 0 && delta >= 0 ? delta / seconds : 0;
    this.last = { at: now, tokens: m.generatedTokensTotal };
    const scrape = { throughput, model: this.modelName() };
    for (const set of this.series) set(m, scrape);
  }
}

/** `GET /metrics`: Prometheus text exposition. Open, like the other read-only routes. */
export function registerMetricsRoute(
  app: FastifyInstance,
  { engine, modelName }: RouteContext,
): void {
  const exporter = new EngineMetricsExporter(modelName);
  app.get('/metrics', async (_request, reply) => {
    exporter.update(await engine.metrics());
    const text = await exporter.registry.metrics();
    return reply.type(exporter.registry.contentType).send(text);
  });
}
