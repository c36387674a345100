import { KvPool } from '@ts/kv-pool';
import { createMemorySaver, createOps } from '@ts/memory-saver-native';
import { describe, expect, it } from 'vitest';
import { DecodeGraphs, decodeBucket } from './decode-graphs.js';

describe('decodeBucket', () => {
  it('pads to 1, 2, 4, 8, then multiples of 8, never past the cap', () => {
    expect([1, 2, 3, 5, 8, 9, 17, 64, 65].map((n) => decodeBucket(n, 256))).toEqual([
      1, 2, 4, 8, 8, 16, 24, 64, 72,
    ]);
    expect(decodeBucket(5, 6)).toBe(6);
    expect(decodeBucket(30, 30)).toBe(30);
  });
});

describe('DecodeGraphs', () => {
  it('replays after the first run, and never keeps a capture that an error cut short', async () => {
    const saver = createMemorySaver({ device: 'cpu' });
    const ops = createOps(saver);
    const kv = await KvPool.create(saver, {
      name: 'target',
      numPages: 1,
      numLayers: 1,
      kvHeads: 1,
      headDim: 4,
      pageSize: 1,
      dtype: 'float32',
    });
    const x = Number((await saver.allocate(16)).address);
    ops.upload(x, new Float32Array([1, 1, 1, 1]));
    const graphs = new DecodeGraphs(ops);
    const double = () => ops.add(x, x, x, 4, 'float32');
    graphs.run(kv, 1, double); // runs once, captures without running
    graphs.run(kv, 1, double); // replays
    expect(Array.from(ops.downloadFloat32(x, 4))).toEqual([4, 4, 4, 4]);
    expect(graphs.stats).toMatchObject({ captures: 1, replays: 1, failures: 0 });
    let calls = 0;
    const brokenOnSecondCall = () => {
      double();
      calls += 1;
      if (calls === 2) throw new Error('argument check failed');
    };
    graphs.run(kv, 2, brokenOnSecondCall);
    expect(graphs.stats).toMatchObject({ failures: 1, lastFailure: 'argument check failed' });
    graphs.run(kv, 2, brokenOnSecondCall); // no graph for this size: runs call by call
    expect(Array.from(ops.downloadFloat32(x, 4))).toEqual([16, 16, 16, 16]);
    expect(graphs.stats.replays).toBe(1);
  });
});
