import { describe, expect, it } from 'vitest';
import { createCommunicator } from './communicator.js';
import { freshGroupId } from './communicator.test-helpers.js';
import { createMemorySaver } from './memory-saver.js';
import type { DType } from './ops-types.js';

// Checks that need no second rank, on the test's own thread (nothing here waits for a rank).
describe('Communicator on one thread', () => {
  it('world size 1: the sum is the data itself and the gather a copy', async () => {
    const saver = createMemorySaver({ device: 'cpu' });
    const input = new Float32Array([1.5, -2, 3e-9, 7]);
    const data = await saver.allocate(input.byteLength);
    const out = await saver.allocate(input.byteLength);
    await saver.copyFromHost(data, new Uint8Array(input.buffer));
    const communicator = createCommunicator(saver, {
      groupId: freshGroupId('one'),
      worldSize: 1,
      rank: 0,
    });
    communicator.allReduceSum(Number(data.address), input.length, 'float32');
    communicator.allGather(Number(data.address), input.length, 'float32', Number(out.address));
    for (const allocation of [data, out]) {
      const bytes = new Uint8Array(input.byteLength);
      await saver.copyToHost(allocation, bytes);
      expect(new Float32Array(bytes.buffer)).toEqual(input);
    }
    communicator.close();
    communicator.close();
    expect(() => communicator.allReduceSum(Number(data.address), 1, 'float32')).toThrow(/closed/);
  });

  it('rejects bad options before joining', () => {
    const saver = createMemorySaver({ device: 'cpu' });
    const groupId = freshGroupId('options');
    expect(() => createCommunicator(saver, { groupId: '', worldSize: 1, rank: 0 })).toThrow(
      /groupId/,
    );
    expect(() => createCommunicator(saver, { groupId, worldSize: 0, rank: 0 })).toThrow(
      /worldSize/,
    );
    expect(() => createCommunicator(saver, { groupId, worldSize: 2, rank: 2 })).toThrow(
      /rank must be in \[0, 2\)/,
    );
    expect(() =>
      createCommunicator(saver, { groupId, worldSize: 2, rank: 0, timeoutMs: 0 }),
    ).toThrow(/timeoutMs/);
  });

  it('a rank is taken once, and a group has one world size', () => {
    const saver = createMemorySaver({ device: 'cpu' });
    const groupId = freshGroupId('join');
    const rank0 = createCommunicator(saver, { groupId, worldSize: 2, rank: 0 });
    expect(() => createCommunicator(saver, { groupId, worldSize: 2, rank: 0 })).toThrow(
      /rank 0 .* already taken/,
    );
    expect(() => createCommunicator(saver, { groupId, worldSize: 3, rank: 1 })).toThrow(
      /has world size 2, not 3/,
    );
    rank0.close();
    // Every rank closed: the id starts a fresh group.
    createCommunicator(saver, { groupId, worldSize: 3, rank: 1 }).close();
  });

  it('rejects bad arguments to a collective', () => {
    const saver = createMemorySaver({ device: 'cpu' });
    const communicator = createCommunicator(saver, {
      groupId: freshGroupId('args'),
      worldSize: 1,
      rank: 0,
    });
    expect(() => communicator.allReduceSum(0, 4, 'float32')).toThrow(/device address/);
    expect(() => communicator.allReduceSum(4096, -1, 'float32')).toThrow(/count/);
    expect(() => communicator.allReduceSum(4096, 4, 'int8' as DType)).toThrow(/dtype/);
    expect(() => communicator.allGather(4096, 4, 'float32', 0.5)).toThrow(
      /out must be a device address/,
    );
    communicator.close();
  });
});
