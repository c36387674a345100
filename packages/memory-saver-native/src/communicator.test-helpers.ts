import { Worker } from 'node:worker_threads';
import type { DType } from './ops-types.js';

/** One collective a test rank makes, in order; `count` defaults to the rank's whole input. */
export interface RankStep {
  op: 'allReduceSum' | 'allGather';
  count?: number;
  /** all-gather: the input as [rows, count / rows], gathered side by side. */
  rows?: number;
}

export interface RankPlan {
  groupId: string;
  worldSize: number;
  rank: number;
  dtype: DType;
  /** The rank's data, uploaded to its own CPU saver before the first step. */
  input: Uint8Array;
  steps: RankStep[];
  timeoutMs?: number;
  /** Waits this long before the first step. */
  startDelayMs?: number;
  /** Keeps the communicator open this long after the last step. */
  holdMs?: number;
}

/** Per step: the bytes it produced (all-reduce: the data; all-gather: the output) or its error. */
export type StepResult = { bytes: Uint8Array } | { error: string; ms: number };

// A worker thread with its own saver and communicator, running the built package (dist/).
const RANK_WORKER = `
const { parentPort, workerData: plan } = require('node:worker_threads');
(async () => {
  const native = await import(plan.distUrl);
  const saver = native.createMemorySaver({ device: 'cpu' });
  const size = plan.input.byteLength;
  const data = await saver.allocate(size);
  const out = await saver.allocate(size * plan.worldSize);
  await saver.copyFromHost(data, plan.input);
  const communicator = native.createCommunicator(saver, plan);
  const elements = size / native.dtypeBytes(plan.dtype);
  const results = [];
  await new Promise((resolve) => setTimeout(resolve, plan.startDelayMs ?? 0));
  for (const step of plan.steps) {
    const count = step.count ?? elements;
    const started = Date.now();
    try {
      if (step.op === 'allReduceSum') {
        communicator.allReduceSum(Number(data.address), count, plan.dtype);
        const bytes = new Uint8Array(size);
        await saver.copyToHost(data, bytes);
        results.push({ bytes });
      } else {
        communicator.allGather(Number(data.address), count, plan.dtype, Number(out.address), step.rows);
        const bytes = new Uint8Array(size * plan.worldSize);
        await saver.copyToHost(out, bytes);
        results.push({ bytes });
      }
    } catch (error) {
      results.push({ error: error.message, ms: Date.now() - started });
    }
  }
  await new Promise((resolve) => setTimeout(resolve, plan.holdMs ?? 0));
  communicator.close();
  parentPort.postMessage(results);
})().catch((error) => parentPort.postMessage({ failed: String(error && error.stack || error) }));
`;

const DIST_URL = new URL('../dist/index.js', import.meta.url).href;

/** Runs every plan in its own worker thread at once; resolves with each rank's step results. */
export async function runRanks(plans: RankPlan[]): Promise<StepResult[][]> {
  return Promise.all(
    plans.map(
      (plan) =>
        new Promise<StepResult[]>((resolve, reject) => {
          const worker = new Worker(RANK_WORKER, {
            eval: true,
            workerData: { ...plan, distUrl: DIST_URL },
          });
          worker.once('message', (message: StepResult[] | { failed: string }) => {
            if ('failed' in message) reject(new Error(`rank ${plan.rank}: ${message.failed}`));
            else resolve(message);
          });
          worker.once('error', reject);
        }),
    ),
  );
}

/** The bytes of a step that must have succeeded. */
export function bytesOf(result: StepResult | undefined): Uint8Array {
  if (!result || !('bytes' in result)) {
    throw new Error(`expected bytes, got ${JSON.stringify(result)}`);
  }
  return result.bytes;
}

/** The error of a step that must have failed. */
export function errorOf(result: StepResult | undefined): { error: string; ms: number } {
  if (!result || !('error' in result)) throw new Error('expected an error, got bytes');
  return result;
}

let groups = 0;
/** A group id no other test uses (a broken group keeps its id until every rank closed). */
export function freshGroupId(name: string): string {
  groups += 1;
  return `${name}-${process.pid}-${groups}`;
}
