import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { EngineMetrics } from '../engine-api.js';
import type { RouteContext } from './context.js';

const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * The Prometheus metrics of one server, in a registry of its own (never the global one), set
 * from one `engine.metrics()` snapshot per scrape.
 */
export class EngineMetricsExporter {
  readonly registry = new Registry();
  private readonly sleeping = this.gauge('ts_engine_is_sleeping', '1 while any tag is released');
  private readonly resident = new Gauge({
    name: 'ts_engine_resident_bytes',
    help: 'Bytes each memory tag physically holds, summed over ranks',
    labelNames: ['tag'],
    registers: [this.registry],
  });
  private readonly release = this.histogram(
    'ts_engine_release_duration_seconds',
    'Duration of releaseMemoryOccupation calls',
  );
  private readonly resume = this.histogram(
    'ts_engine_resume_duration_seconds',
    'Duration of resumeMemoryOccupation calls',
  );
  private readonly waiting = this.gauge('ts_engine_waiting_requests', 'Requests in the queue');
  private readonly running = this.gauge('ts_engine_running_requests', 'Requests in the batch');
  private readonly promptTokens = this.counter(
    'ts_engine_prompt_tokens_total',
    'Prompt tokens of all requests',
  );
  private readonly generatedTokens = this.counter(
    'ts_engine_generated_tokens_total',
    'Tokens generated',
  );
  private readonly requests = this.counter('ts_engine_requests_total', 'Requests received');
  private readonly forwardPasses = this.counter(
    'ts_engine_forward_passes_total',
    'Forward passes of all ranks (flat while sleeping)',
  );
  private readonly throughput = this.gauge(
    'ts_engine_generation_tokens_per_second',
    'Tokens generated per second since the previous scrape',
  );
  private last: { at: number; tokens: number } | undefined;
  private readonly sglang = new SglangSeries(this.registry);

  constructor(private readonly modelName: () => string = () => '') {}

  /** Sets every metric from a snapshot; `now` in milliseconds. */
  update(m: EngineMetrics, now = Date.now()): void {
    this.sleeping.set(m.isSleeping ? 1 : 0);
    this.resident.reset();
    for (const [tag, bytes] of Object.entries(m.residentBytesByTag)) {
      this.resident.set({ tag }, bytes);
    }
    // The engine keeps the durations; the histograms are rebuilt from them each scrape.
    refill(this.release, m.releaseSeconds);
    refill(this.resume, m.resumeSeconds);
    this.waiting.set(m.waitingRequests);
    this.running.set(m.runningRequests);
    setCounter(this.promptTokens, m.promptTokensTotal);
    setCounter(this.generatedTokens, m.generatedTokensTotal);
    setCounter(this.requests, m.requestsTotal);
    setCounter(this.forwardPasses, m.forwardPassesTotal);
    const previous = this.last;
    const seconds = previous ? (now - previous.at) / 1000 : 0;
    const delta = previous ? m.generatedTokensTotal - previous.tokens : 0;
    const throughput = seconds > 0 && delta >= 0 ? delta / seconds : 0;
    this.throughput.set(throughput);
    this.last = { at: now, tokens: m.generatedTokensTotal };
    this.sglang.update(m, throughput, this.modelName());
  }

  private gauge(name: string, help: string): Gauge {
    return new Gauge({ name, help, registers: [this.registry] });
  }

  private counter(name: string, help: string): Counter {
    return new Counter({ name, help, registers: [this.registry] });
  }

  private histogram(name: string, help: string): Histogram {
    return new Histogram({ name, help, buckets: DURATION_BUCKETS, registers: [this.registry] });
  }
}

/**
 * The series SGLang's scheduler exports under the names routers and monitors read
 * (sgl-model-gateway's load monitor among them), labelled with the served model name.
 */
class SglangSeries {
  private readonly gauges: Record<
    'running' | 'queued' | 'used' | 'usage' | 'throughput' | 'capacity' | 'hits' | 'utilization',
    Gauge
  >;
  private readonly counters: Record<'prompt' | 'generated' | 'requests' | 'aborted', Counter>;

  constructor(registry: Registry) {
    const gauge = (name: string, help: string) =>
      new Gauge({
        name: `sglang:${name}`,
        help,
        labelNames: ['model_name'],
        registers: [registry],
      });
    const counter = (name: string, help: string) =>
      new Counter({
        name: `sglang:${name}`,
        help,
        labelNames: ['model_name'],
        registers: [registry],
      });
    this.gauges = {
      running: gauge('num_running_reqs', 'Requests in the running batch'),
      queued: gauge('num_queue_reqs', 'Requests waiting in the queue'),
      used: gauge('num_used_tokens', 'KV tokens the running requests hold'),
      usage: gauge('token_usage', 'Share of the KV pool the running requests hold'),
      throughput: gauge('gen_throughput', 'Tokens generated per second since the previous scrape'),
      capacity: gauge('max_total_num_tokens', 'KV tokens the pools hold in all'),
      hits: gauge('cache_hit_rate', 'Share of prompt tokens the prefix cache gave'),
      utilization: gauge('utilization', 'Running requests as a share of the most that may run'),
    };
    this.counters = {
      prompt: counter('prompt_tokens_total', 'Prompt tokens of all requests'),
      generated: counter('generation_tokens_total', 'Tokens generated'),
      requests: counter('num_requests_total', 'Requests received'),
      aborted: counter(
        'num_aborted_requests_total',
        'Requests that ended with finish reason abort',
      ),
    };
  }

  update(m: EngineMetrics, throughput: number, model: string): void {
    const labels = { model_name: model };
    this.gauges.running.set(labels, m.runningRequests);
    this.gauges.queued.set(labels, m.waitingRequests);
    this.gauges.used.set(labels, m.usedTokens);
    this.gauges.usage.set(labels, m.totalTokens > 0 ? m.usedTokens / m.totalTokens : 0);
    this.gauges.throughput.set(labels, throughput);
    this.gauges.capacity.set(labels, m.totalTokens);
    const sum = (pick: (r: EngineMetrics['ranks'][number]) => number) =>
      m.ranks.reduce((n, r) => n + pick(r), 0);
    const prompt = sum((r) => r.promptTokensTotal);
    this.gauges.hits.set(labels, prompt > 0 ? sum((r) => r.cachedTokensTotal) / prompt : 0);
    const slots = sum((r) => r.maxRunningRequests);
    this.gauges.utilization.set(labels, slots > 0 ? m.runningRequests / slots : 0);
    for (const [key, value] of [
      ['prompt', m.promptTokensTotal],
      ['generated', m.generatedTokensTotal],
      ['requests', m.requestsTotal],
      ['aborted', m.abortedRequestsTotal],
    ] as const) {
      this.counters[key].reset();
      if (value > 0) this.counters[key].inc(labels, value);
    }
  }
}

function refill(histogram: Histogram, values: number[]): void {
  histogram.reset();
  for (const v of values) histogram.observe(v);
}

function setCounter(counter: Counter, value: number): void {
  counter.reset();
  if (value > 0) counter.inc(value);
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
