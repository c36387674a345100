import {
  createMemorySaver,
  type IpcAllocation,
  type IpcCopyReport,
  type IpcPiece,
  type MemorySaver,
} from '@ts/memory-saver-native';
import { describe, expect, it } from 'vitest';
import { openBuiltinTiny } from '../builtin-tiny.js';
import { elementCount } from '../loader/tensor-source.js';
import { copyIpcWeights } from './ipc-weights.js';
import { loadWeights } from './load-weights.js';
import type { IpcTensor } from './named-tensors.js';
import { slotOf } from './weight-layout.js';

// The device-to-device copy itself runs on the H200 (e2e/tests/torch-trainer.test.ts with CUDA
// tensors); here, what copyIpcWeights asks of the saver and makes of its answer.
const handle = (fill: number) => new Uint8Array(64).fill(fill);
const event = (fill: number) => new Uint8Array(64).fill(fill);

async function tinyWeights(saver: MemorySaver) {
  const tensors = openBuiltinTiny().tensors;
  const weights = await loadWeights(saver, tensors, 'float32');
  const [a, b, c] = tensors.slice(0, 3).map(
    (t, i): IpcTensor => ({
      name: t.name,
      dtype: 'bfloat16',
      shape: [...t.shape],
      // a and c share one allocation of the sender, b has its own.
      ipc: {
        handle: handle(i === 1 ? 2 : 1),
        event: i === 2 ? null : event(10 + i),
        offset: 4096 * i,
        byteLength: elementCount(t.shape) * 2,
      },
    }),
  );
  return { weights, sent: [a, b, c] as IpcTensor[] };
}

/** A saver whose copyIpc records its call and answers `report`; the rest is the CPU saver. */
function answering(saver: MemorySaver, report: IpcCopyReport) {
  const calls: { sources: readonly IpcAllocation[]; pieces: readonly IpcPiece[] }[] = [];
  const copyIpc = async (
    _: unknown,
    sources: readonly IpcAllocation[],
    pieces: readonly IpcPiece[],
  ) => {
    calls.push({ sources, pieces });
    return report;
  };
  return { saver: Object.assign(Object.create(saver), { copyIpc }) as MemorySaver, calls };
}

const times = { openMs: 1.5, scanMs: 0.25, copyMs: 2, closeMs: 0.125 };

describe('copyIpcWeights', () => {
  it('opens each shared allocation once with all its events, and puts each tensor in its slot', async () => {
    const cpu = createMemorySaver({ device: 'cpu' });
    const { weights, sent } = await tinyWeights(cpu);
    const clean = { count: 0, first: -1 };
    const { saver, calls } = answering(cpu, { counts: [clean, clean, clean], ...times });
    const said = await copyIpcWeights(saver, weights, sent);
    expect(calls[0]?.sources).toEqual([
      { handle: handle(1), events: [event(10)] },
      { handle: handle(2), events: [event(11)] },
    ]);
    expect(calls[0]?.pieces).toEqual(
      sent.map((t, i) => ({
        source: i === 1 ? 1 : 0,
        from: 4096 * i,
        to: slotOf(weights.layout, t.name).offset,
        elements: elementCount(t.shape),
        fromType: 'bfloat16',
        toType: 'float32',
      })),
    );
    expect(said).toBe(
      'device to device from 2 shared allocations: open 1.50 ms, scan 0.25 ms, copy 2.00 ms, close 0.13 ms',
    );
  });

  it('names the tensor holding NaN/Inf, unless non-finite values are allowed', async () => {
    const cpu = createMemorySaver({ device: 'cpu' });
    const { weights, sent } = await tinyWeights(cpu);
    const clean = { count: 0, first: -1 };
    const report = { counts: [clean, { count: 3, first: 7 }, clean], ...times };
    const { saver } = answering(cpu, report);
    await expect(copyIpcWeights(saver, weights, sent)).rejects.toThrow(
      `${sent[1]?.name} has 3 non-finite values (NaN/Inf; the first at element 7)`,
    );
    await expect(copyIpcWeights(saver, weights, sent, { allowNonFinite: true })).resolves.toMatch(
      /^device to device/,
    );
  });

  it('on the CPU backend is refused naming it, and the weights stay as they were', async () => {
    const saver = createMemorySaver({ device: 'cpu' });
    const { weights, sent } = await tinyWeights(saver);
    const before = new Uint8Array(weights.allocation.size);
    await saver.copyToHost(weights.allocation, before);
    await expect(copyIpcWeights(saver, weights, sent)).rejects.toThrow(
      'CUDA IPC handles need the CUDA backend; this engine runs on cpu',
    );
    const after = new Uint8Array(weights.allocation.size);
    await saver.copyToHost(weights.allocation, after);
    expect(after).toEqual(before);
  });
});
