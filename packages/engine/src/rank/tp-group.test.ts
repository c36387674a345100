import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import { createCommunicator, createMemorySaver, type MemorySaver } from '@ts/memory-saver-native';
import { failMapAfter } from '@ts/memory-saver-native/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { flippedCheckpoint } from '../engine/engine.test-helpers.js';
import { resolveOptions } from '../engine/launch-options.js';
import { openCheckpoint } from '../model/loader/open-checkpoint.js';
import { FIXTURES } from '../model/runner.test-helpers.js';
import { planLlamaShards } from '../model/tensor-parallel/shard-plan.js';
import type { HostTensor } from '../model/weights/named-tensors.js';
import { loadRankWeights } from './rank-model.js';
import { addBytes } from './resident-bytes.js';
import { TpGroup } from './tp-group.js';
import { runPeer } from './tp-peer.js';
import { TpPeers } from './tp-peers.js';

// The leader's side of a TP group against a real peer (TP rank 1 of the llama fixture at TP 2, on
// its own CPU saver) across a real port, both in this thread: memory calls and weight updates
// have no collectives (forward passes do, and run in the engine tests' worker threads).
const MiB = 1024 * 1024;
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

const DIR = resolve(FIXTURES, 'llama');

async function group(start = true) {
  const checkpoint = await openCheckpoint(DIR);
  const config = checkpoint.config;
  const options = resolveOptions(
    { model: DIR, device: 'cpu', tpSize: 2, maxBatchTokens: 64, maxContext: 64 },
    0,
  );
  const peerSaver = createMemorySaver({ device: 'cpu' });
  const plan = planLlamaShards(config, 2, 1);
  const comm = createCommunicator(peerSaver, { groupId: randomUUID(), worldSize: 2, rank: 1 });
  const weights = await loadRankWeights(peerSaver, checkpoint, 'float32', plan, {
    allowNonFinite: false,
  }).finally(() => checkpoint.close());
  const channel = new MessageChannel();
  const events: string[] = [];
  const peerDone = runPeer({
    ...{ saver: peerSaver, config, dtype: 'float32', plan, comm, weights, options },
    leader: channel.port2,
    onStarted: () => events.push('started'),
    onFatal: (message) => events.push(message),
    onStep: () => {},
  });
  const leaderSaver = createMemorySaver({ device: 'cpu' });
  await leaderSaver.allocate(MiB, { tag: 'weights', cpuBackup: true });
  const peers = new TpPeers([channel.port1]);
  const tp = new TpGroup(peers);
  if (start) await tp.start({ numPages: 8, maxRunning: 4 });
  closers.push(async () => {
    peers.shutdown();
    await peerDone;
  });
  const saver = tp.saver(leaderSaver);
  return { tp, peers, saver, leaderSaver, peerSaver, peerDone, events, config };
}

const pausedOn = (...savers: MemorySaver[]) => savers.map((s) => s.isPaused('weights'));

describe('a TP group seen from its leader', () => {
  it('pauses and resumes a tag on every rank, counting every rank', async () => {
    const { saver, leaderSaver, peerSaver, events } = await group();
    expect(events).toEqual(['started']);
    const awake = saver.bytes('weights');
    expect(awake).toBe(leaderSaver.bytes('weights') + peerSaver.bytes('weights'));
    expect(peerSaver.bytes('weights')).toBeGreaterThan(0);
    await saver.pause('weights');
    expect(pausedOn(leaderSaver, peerSaver)).toEqual([true, true]);
    expect(saver.bytes('weights')).toBe(0);
    await saver.resume('weights');
    expect(pausedOn(leaderSaver, peerSaver)).toEqual([false, false]);
    expect(saver.bytes('weights')).toBe(awake);
    await saver.synchronize?.();
  });

  it.each([
    ['TP rank 1', 'peer', /tp rank 1: .*injected failure/],
    ['TP rank 0', 'leader', /tp rank 0: .*injected failure/],
  ] as const)(
    'a resume failing on %s leaves the tag paused on every rank; a retry wakes all',
    async (_, where, why) => {
      const { saver, leaderSaver, peerSaver } = await group();
      await saver.pause('weights');
      failMapAfter(where === 'peer' ? peerSaver : leaderSaver, 0);
      await expect(saver.resume('weights')).rejects.toThrow(why);
      expect(pausedOn(leaderSaver, peerSaver)).toEqual([true, true]);
      expect(saver.bytes('weights')).toBe(0);
      await saver.resume('weights');
      expect(pausedOn(leaderSaver, peerSaver)).toEqual([false, false]);
    },
  );

  it('a pause the peer refuses is turned back on the leader: every rank keeps the tag', async () => {
    const { saver, leaderSaver, peerSaver } = await group();
    await peerSaver.pause('weights');
    await expect(saver.pause('weights')).rejects.toThrow(/pause\(weights\) failed on tp rank 1/);
    expect(leaderSaver.isPaused('weights')).toBe(false);
  });

  it("repairs the peers' pools, answers their resident bytes, and updates their weights", async () => {
    const { tp, peers, config } = await group();
    const [pool] = tp.pools();
    expect(pool?.name).toBe('target (tp rank 1)');
    await pool?.repair();
    const [resident] = await peers.call({ op: 'residentBytes' });
    expect(resident && 'reply' in resident && resident.reply.residentBytes.weights).toBeGreaterThan(
      0,
    );
    const norm: HostTensor = {
      name: 'model.norm.weight',
      dtype: 'float32',
      shape: [config.hiddenSize],
      data: new Uint8Array(config.hiddenSize * 4),
    };
    const [updated] = await peers.call({
      op: 'updateWeights',
      update: { from: 'tensors', tensors: [norm] },
    });
    expect(updated).toMatchObject({ tpRank: 1, reply: { success: true } });
    const [wrong] = await peers.call({
      op: 'updateWeights',
      update: { from: 'tensors', tensors: [{ ...norm, shape: [3] }] },
    });
    expect(wrong).toMatchObject({ reply: { success: false, message: /old weights stay.*shape/ } });
    const [missing] = await peers.call({
      op: 'updateWeights',
      update: { from: 'disk', path: '/nonexistent/checkpoint' },
    });
    expect(missing).toMatchObject({ reply: { success: false } });
    const [fromDisk] = await peers.call({
      op: 'updateWeights',
      update: { from: 'disk', path: flippedCheckpoint(DIR) },
    });
    expect(fromDisk).toMatchObject({ reply: { success: true, message: /weights updated from/ } });
    const sum = { weights: 1 };
    addBytes(sum, { weights: 2, kv_cache: 3 });
    expect(sum).toEqual({ weights: 3, kv_cache: 3 });
  });

  it('a peer that has left answers every later call as gone', async () => {
    const { tp, peers, peerDone, saver } = await group();
    peers.shutdown();
    await peerDone;
    await new Promise((resolve) => setTimeout(resolve, 20));
    const [answer] = await peers.call({ op: 'residentBytes' });
    expect(answer).toEqual({ tpRank: 1, gone: 'tp rank 1 is gone' });
    await expect(saver.pause('weights')).rejects.toThrow(/tp rank 1 is gone/);
    await expect(tp.start({ numPages: 8, maxRunning: 4 })).rejects.toThrow(
      /peers failed to start: tp rank 1 is gone/,
    );
    await expect(tp.pools()[0]?.repair()).rejects.toThrow(/tp rank 1 is gone/);
  });

  it('a step the peer cannot run ends it: the fatal error names the rank, and the peer leaves', async () => {
    const { tp, peers, peerDone, events } = await group(false);
    tp.forward([{ tokens: [1, 2], cachedTokens: 0, pageTable: [0] }]);
    await peerDone;
    expect(events).toEqual(['tp rank 1: a forward pass failed: a step came before the start']);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await peers.call({ op: 'residentBytes' })).toEqual([
      { tpRank: 1, gone: 'tp rank 1 is gone' },
    ]);
  });
});
