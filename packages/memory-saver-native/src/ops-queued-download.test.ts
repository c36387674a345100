import { describe, expect, it } from 'vitest';
import { Workspace } from './ops.test-helpers.js';

function floats(w: Workspace, ticket: number, count: number): number[] {
  const into = new Float32Array(count);
  w.ops.takeDownload(ticket, into);
  return Array.from(into);
}

describe('queued downloads', () => {
  it('give the bytes as they were when queued, not what later calls wrote', async () => {
    const w = new Workspace();
    const before = new Float32Array([1, 2, 3, 4, 5]);
    const buffer = await w.upload(before);
    const ticket = w.ops.queueDownload(buffer, before.byteLength);
    w.ops.add(buffer, buffer, buffer, before.length, 'float32');
    const second = w.ops.queueDownload(buffer, before.byteLength);
    w.ops.upload(buffer, new Float32Array([9, 9, 9, 9, 9]));
    expect(floats(w, second, 5)).toEqual([2, 4, 6, 8, 10]);
    expect(floats(w, ticket, 5)).toEqual([1, 2, 3, 4, 5]);
    expect(Array.from(w.ops.downloadFloat32(buffer, 5))).toEqual([9, 9, 9, 9, 9]);
  });

  it('hold up to four at once, each taken once, in any order, across many rounds', async () => {
    const w = new Workspace();
    const buffer = await w.allocate(4096 * 4);
    const values = (round: number, count: number) =>
      Float32Array.from({ length: count }, (_, i) => round * 10000 + i);
    for (let round = 0; round < 25; round++) {
      const counts = [1, 7, 300, 4096].map((c) => (round % 2 === 0 ? c : 4097 - c));
      const tickets = counts.map((count, k) => {
        w.ops.upload(buffer, values(round * 4 + k, count));
        return w.ops.queueDownload(buffer, count * 4);
      });
      for (const k of [2, 0, 3, 1]) {
        expect(floats(w, tickets[k] as number, counts[k] as number)).toEqual(
          Array.from(values(round * 4 + k, counts[k] as number)),
        );
      }
    }
  });

  it('refuse a fifth before one is taken, a ticket taken twice or never queued, and a wrong size', async () => {
    const w = new Workspace();
    const buffer = await w.upload(new Float32Array([7, 8]));
    const tickets = [0, 1, 2, 3].map(() => w.ops.queueDownload(buffer, 8));
    expect(() => w.ops.queueDownload(buffer, 8)).toThrow(
      /queueDownload: 4 downloads are queued and not taken/,
    );
    expect(() => w.ops.takeDownload(tickets[0] as number, new Float32Array(1))).toThrow(
      /holds 8 bytes, the host buffer has 4/,
    );
    expect(floats(w, tickets[0] as number, 2)).toEqual([7, 8]);
    expect(() => w.ops.takeDownload(tickets[0] as number, new Float32Array(2))).toThrow(
      /is not a queued download \(each is taken once\)/,
    );
    expect(() => w.ops.takeDownload(12345, new Float32Array(2))).toThrow(/not a queued download/);
    expect(() => w.ops.takeDownload(-1, new Float32Array(2))).toThrow(/not a queued download/);
    expect(() => w.ops.queueDownload(buffer, 0)).toThrow(
      'queueDownload: bytes must be positive, got 0',
    );
    expect(() => w.ops.queueDownload(0, 8)).toThrow(
      /queueDownload: address must be a device address/,
    );
    const fifth = w.ops.queueDownload(buffer, 8);
    for (const ticket of [...tickets.slice(1), fifth]) expect(floats(w, ticket, 2)).toEqual([7, 8]);
  });

  it('report a content error of the calls before them where they are taken (at the call on the CPU)', async () => {
    const w = new Workspace();
    const table = await w.upload(new Float32Array([1, 2, 3, 4]));
    const out = await w.allocate(8);
    const embed = async () =>
      w.ops.embedding({
        out,
        table,
        ids: await w.upload(new Int32Array([1, -3])),
        tokens: 2,
        dim: 2,
        dtype: 'float32',
      });
    if (w.saver.device === 'cpu') {
      await expect(embed()).rejects.toThrow(/embedding: ids\[1\] is negative/);
    } else {
      await embed();
      const ticket = w.ops.queueDownload(out, 8);
      expect(() => w.ops.takeDownload(ticket, new Float32Array(2))).toThrow(
        /embedding: ids\[1\] is negative/,
      );
    }
    const ticket = w.ops.queueDownload(table, 16);
    expect(floats(w, ticket, 4)).toEqual([1, 2, 3, 4]);
  });
});
