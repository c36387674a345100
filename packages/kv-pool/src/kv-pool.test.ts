import { createMemorySaver } from '@ts/memory-saver-native';
import { describe, expect, it } from 'vitest';
import { KvPool } from './kv-pool.js';
import { KvPoolRegistry } from './kv-pool-registry.js';

const shape = { numLayers: 2, kvHeads: 2, headDim: 8, pageSize: 4, dtype: 'float32' as const };

describe('KvPool', () => {
  it('lays out K and V per layer inside one kv_cache allocation', async () => {
    const saver = createMemorySaver({ device: 'cpu' });
    const pool = await KvPool.create(saver, { name: 'target', numPages: 3, ...shape });
    expect(pool.bytes).toBe(3 * KvPool.bytesPerPage(shape));
    expect(pool.slotBytes).toBe(64);
    expect(pool.layerBytes).toBe(3 * 4 * 64);
    expect(pool.valueAddress(0) - pool.keyAddress(0)).toBe(pool.layerBytes);
    expect(pool.keyAddress(1) - pool.keyAddress(0)).toBe(2 * pool.layerBytes);
    expect(() => pool.keyAddress(2)).toThrow(/no layer 2/);
    expect(saver.stats().kv_cache?.residentBytes).toBeGreaterThanOrEqual(pool.bytes);
    expect(pool.pages.freePages).toBe(3);
  });

  it('clears to zero after its memory comes back with garbage, and its pages survive a release', async () => {
    const saver = createMemorySaver({ device: 'cpu' });
    const pool = await KvPool.create(saver, { name: 'target', numPages: 2, ...shape });
    const taken = pool.pages.allocate(1);
    await saver.pause('kv_cache');
    await saver.resume('kv_cache');
    expect(pool.pages.references(taken[0] as number)).toBe(1);
    await saver.fill(pool.allocation, 0xff);
    const zeros = await saver.allocate(pool.bytes);
    await saver.zero(zeros);
    expect(await saver.checksum(pool.allocation)).not.toBe(await saver.checksum(zeros));
    await pool.clear();
    expect(await saver.checksum(pool.allocation)).toBe(await saver.checksum(zeros));
    await pool.free();
    expect(saver.stats().kv_cache?.allocations).toBe(0);
  });

  it('its repair after a resume leaves it zeroed (the saver zeroes it as it maps it again)', async () => {
    const saver = createMemorySaver({ device: 'cpu' });
    const pool = await KvPool.create(saver, { name: 'target', numPages: 3, ...shape });
    const zeros = await saver.allocate(pool.bytes);
    await saver.zero(zeros);
    await saver.fill(pool.allocation, 0x5a);
    await saver.pause('kv_cache');
    await saver.resume('kv_cache');
    await pool.repair();
    expect(await saver.checksum(pool.allocation)).toBe(await saver.checksum(zeros));
  });

  it('rejects bad shapes', async () => {
    const saver = createMemorySaver({ device: 'cpu' });
    await expect(KvPool.create(saver, { name: 'x', numPages: 0, ...shape })).rejects.toThrow(
      /numPages/,
    );
    await expect(
      KvPool.create(saver, { name: 'x', numPages: 1, ...shape, headDim: 1.5 }),
    ).rejects.toThrow(/headDim/);
  });

  it('the registry lists every pool once', async () => {
    const saver = createMemorySaver({ device: 'cpu' });
    const registry = new KvPoolRegistry();
    const target = await KvPool.create(saver, { name: 'target', numPages: 1, ...shape });
    const draft = await KvPool.create(saver, { name: 'draft', numPages: 1, ...shape });
    registry.add(target);
    registry.add(draft);
    expect(() => registry.add(target)).toThrow(/already registered/);
    expect(registry.list().map((p) => p.name)).toEqual(['target', 'draft']);
  });
});
