import type { KvPool } from '@ts/kv-pool';
import type { Ops } from '@ts/memory-saver-native';

export interface GraphStats {
  captures: number;
  replays: number;
  failures: number;
  lastFailure?: string;
}

/** The padded batch size of a decode step of `n` sequences: 1, 2, 4, 8, then multiples of 8. */
export function decodeBucket(n: number, cap: number): number {
  const bucket = n <= 8 ? 2 ** Math.ceil(Math.log2(n)) : Math.ceil(n / 8) * 8;
  return Math.min(bucket, cap);
}

/**
 * Decode steps captured as graphs, one per KV pool (its addresses are in the graph) and padded
 * batch size. A step's first run goes call by call, which also sizes the scratch the capture
 * records; later runs replay. A graph the device dropped (a pause, scratch that moved) is
 * captured again; a batch size whose capture failed runs call by call from then on.
 */
export class DecodeGraphs {
  readonly stats: GraphStats = { captures: 0, replays: 0, failures: 0 };
  private readonly graphs = new WeakMap<KvPool, Map<number, number>>();

  constructor(private readonly ops: Ops) {}

  /** Runs `step`, whose device arrays are already uploaded: a replay, or a run and a capture. */
  run(kv: KvPool, bucket: number, step: () => void): void {
    const graphs = this.graphs.get(kv) ?? new Map<number, number>();
    this.graphs.set(kv, graphs);
    const graph = graphs.get(bucket);
    if (graph !== undefined && graph >= 0 && this.ops.replay(graph)) {
      this.stats.replays += 1;
      return;
    }
    step();
    if (graph === -1) return;
    this.ops.beginCapture();
    let failed = false;
    try {
      step();
    } catch (error) {
      // The step itself already ran; this batch size runs without a graph from now on.
      failed = true;
      this.stats.lastFailure = error instanceof Error ? error.message : String(error);
    }
    const recorded = this.ops.endCapture();
    // A capture cut short by an error holds part of a step: never replay it.
    const captured = failed ? -1 : recorded;
    graphs.set(bucket, captured);
    if (captured >= 0) this.stats.captures += 1;
    else this.stats.failures += 1;
  }
}
