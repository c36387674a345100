import type { MessagePort } from 'node:worker_threads';
import { KvPool } from '@ts/kv-pool';
import { DEFAULT_TAGS } from '@ts/memory-occupation';
import type { Communicator, MemorySaver } from '@ts/memory-saver-native';
import type { ModelConfig } from '../model/loader/model-config.js';
import type { TensorDtype } from '../model/loader/tensor-source.js';
import type { ModelRunner } from '../model/model-runner.js';
import type { ShardPlan } from '../model/tensor-parallel/shard-plan.js';
import type { LoadedWeights } from '../model/weights/load-weights.js';
import type { ResolvedOptions } from '../protocol/options.js';
import { createRankRunner, rankKvShape } from './rank-model.js';
import { residentBytesOf } from './resident-bytes.js';
import { updatePeerWeights } from './tp-peer-update.js';
import type { PeerCall, PeerMemory, PeerReply, ToPeer } from './tp-protocol.js';

/** What a peer has once its weights are loaded. */
export interface PeerSetup {
  saver: MemorySaver;
  config: ModelConfig;
  dtype: TensorDtype;
  plan: ShardPlan;
  comm: Communicator;
  weights: LoadedWeights;
  options: ResolvedOptions;
  leader: MessagePort;
  /** Called once the pool and runner are built (the test faults go in here). */
  onStarted(): void;
  /** A step failed: the group cannot go on (the leader's collectives fail with it). */
  onFatal(message: string): void;
  /** Called after each forward pass with how many have run (a test fault may end the worker). */
  onStep(steps: number): void;
}

const describe = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * A tensor-parallel peer (TP rank > 0): no scheduler, only what the leader sends, handled one
 * message at a time in the order sent (a step never overlaps a pause or an update). Resolves
 * when the leader says shut down or is gone; the communicator is closed by then.
 */
export function runPeer(setup: PeerSetup): Promise<void> {
  const { saver, plan, comm, leader } = setup;
  let model: { kv: KvPool; runner: ModelRunner } | null = null;
  let steps = 0;
  const tagBytes = () => Object.fromEntries(DEFAULT_TAGS.map((tag) => [tag, saver.bytes(tag)]));
  const memory = async (what: () => Promise<unknown>): Promise<PeerMemory> => {
    try {
      await what();
      return { success: true, message: 'ok', tagBytes: tagBytes() };
    } catch (error) {
      return { success: false, message: describe(error), tagBytes: tagBytes() };
    }
  };

  async function answer(call: PeerCall): Promise<PeerReply> {
    switch (call.op) {
      case 'start': {
        const { options, config } = setup;
        const shape = rankKvShape(config, plan, options.pageSize, setup.dtype);
        const kv = await KvPool.create(saver, {
          name: 'target',
          numPages: call.numPages,
          ...shape,
        });
        const sizes = { ...options, maxRunning: call.maxRunning };
        const parallel = { tpSize: plan.tpSize, dims: plan.dims, comm };
        model = {
          kv,
          runner: await createRankRunner(saver, config, setup.weights, sizes, parallel),
        };
        setup.onStarted();
        return { success: true, message: 'started', tagBytes: tagBytes() };
      }
      case 'pause':
        return memory(() => saver.pause(call.tag));
      case 'resume':
        return memory(() => saver.resume(call.tag));
      case 'repair':
        await model?.kv.repair();
        return {
          success: true,
          message: 'repaired',
          repairedPools: [`target (tp rank ${plan.rank})`],
        };
      case 'updateWeights': {
        const checks = { allowNonFinite: setup.options.allowNonFiniteWeights };
        const { weights, config } = setup;
        return updatePeerWeights(saver, weights, config, plan, call.update, checks);
      }
      case 'residentBytes': {
        const residentBytes = residentBytesOf(saver, model ? [model.kv] : []);
        return { success: true, message: 'ok', residentBytes };
      }
    }
  }

  async function step(sequences: Extract<ToPeer, { type: 'step' }>['sequences']): Promise<void> {
    if (!model) throw new Error('a step came before the start');
    const weights = setup.weights.allocation;
    if (saver.restorePending(weights)) await saver.restore(weights);
    model.runner.forward(sequences, model.kv);
    setup.onStep(++steps);
  }

  return new Promise((resolve) => {
    let queue = Promise.resolve();
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      comm.close();
      leader.close();
      resolve();
    };
    const handle = async (message: ToPeer) => {
      if (done) return;
      if (message.type === 'shutdown') return finish();
      if (message.type === 'call') {
        const reply = await answer(message.call).catch(
          (error: unknown): PeerReply => ({
            success: false,
            message: describe(error),
            tagBytes: {},
          }),
        );
        leader.postMessage({ type: 'reply', id: message.id, reply });
        return;
      }
      try {
        await step(message.sequences);
      } catch (error) {
        setup.onFatal(`tp rank ${plan.rank}: a forward pass failed: ${describe(error)}`);
        finish();
      }
    };
    leader.on('message', (message: ToPeer) => {
      queue = queue.then(() => handle(message));
    });
    leader.on('close', () => {
      queue = queue.then(finish);
    });
  });
}
