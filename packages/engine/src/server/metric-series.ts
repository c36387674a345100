import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { EngineMetrics } from '../engine-api.js';

/** What one scrape sets the series from, beside the engine's snapshot. */
export interface Scrape {
  /** Tokens generated per second since the previous scrape. */
  throughput: number;
  /** The served model's name: the `model_name` label of SGLang's series. */
  model: string;
}

/** One series in a registry, set from each scrape. */
export type Series = (metrics: EngineMetrics, scrape: Scrape) => void;

/** A number a series takes from a scrape. */
export type Read = (metrics: EngineMetrics, scrape: Scrape) => number;

/** The throughput since the previous scrape, as a series reads it. */
export const throughput: Read = (_, scrape) => scrape.throughput;

const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * The kinds of series, registered in `registry`; with `byModel`, gauges and counters are
 * labelled with the served model's name (as SGLang's are) and named under `prefix`.
 */
export function seriesIn(registry: Registry, { byModel = false, prefix = '' } = {}) {
  const registers = [registry];
  const labelNames = byModel ? ['model_name'] : [];
  const labels = (scrape: Scrape) => (byModel ? { model_name: scrape.model } : {});
  return {
    /** A gauge set to what `read` gives. */
    gauge(name: string, help: string, read: Read): Series {
      const series = new Gauge({ name: prefix + name, help, labelNames, registers });
      return (m, scrape) => series.set(labels(scrape), read(m, scrape));
    },
    /** A counter set to the total `read` gives (the engine keeps the totals; nothing counts here). */
    counter(name: string, help: string, read: Read): Series {
      const series = new Counter({ name: prefix + name, help, labelNames, registers });
      return (m, scrape) => {
        const total = read(m, scrape);
        series.reset();
        if (total > 0) series.inc(labels(scrape), total);
      };
    },
    /** A histogram of durations in seconds, rebuilt from those the engine keeps at each scrape. */
    durations(name: string, help: string, read: (metrics: EngineMetrics) => number[]): Series {
      const buckets = DURATION_BUCKETS;
      const series = new Histogram({ name: prefix + name, help, buckets, registers });
      return (m) => {
        series.reset();
        for (const seconds of read(m)) series.observe(seconds);
      };
    },
    /** A gauge with one series per memory tag: the bytes it physically holds. */
    bytesByTag(name: string, help: string): Series {
      const series = new Gauge({ name: prefix + name, help, labelNames: ['tag'], registers });
      return (m) => {
        series.reset();
        for (const [tag, bytes] of Object.entries(m.residentBytesByTag)) series.set({ tag }, bytes);
      };
    },
  };
}
