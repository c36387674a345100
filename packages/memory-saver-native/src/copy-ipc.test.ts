import { describe, expect, it } from 'vitest';
import { DEVICE, openSaver } from './memory-saver.test-helpers.js';

// A trainer's real handles reach copyIpc from e2e/tests/torch-trainer.test.ts on the device
// (TS_E2E_TRAINER_DEVICE=cuda); here, what must hold for any handle.
describe('MemorySaver.copyIpc', () => {
  const forged = { handle: new Uint8Array(64).fill(7), events: [] };
  const piece = (to: number, elements = 4) => ({
    source: 0,
    from: 0,
    to,
    elements,
    fromType: 'float32' as const,
    toType: 'bfloat16' as const,
  });

  it('refuses a piece past the allocation before opening anything', async () => {
    const saver = openSaver();
    const allocation = await saver.allocate(4096);
    await expect(
      saver.copyIpc(allocation, [forged], [piece(4096 - 4)], { refuseNonFinite: true }),
    ).rejects.toThrow(/copyIpc/);
    await expect(
      saver.copyIpc(allocation, [], [piece(0)], { refuseNonFinite: true }),
    ).rejects.toThrow('copyIpc: a piece of no source');
    await saver.free(allocation);
  });

  it('fails on a handle it cannot open, leaving the allocation as it was', async () => {
    const saver = openSaver();
    const allocation = await saver.allocate(4096);
    const before = Uint8Array.from({ length: 4096 }, (_, i) => i % 251);
    await saver.copyFromHost(allocation, before);
    await expect(
      saver.copyIpc(allocation, [forged], [piece(0)], { refuseNonFinite: true }),
    ).rejects.toThrow(
      DEVICE === 'cpu'
        ? /^CUDA IPC handles need the CUDA backend; this engine runs on cpu$/
        : /cudaIpcOpenMemHandle/,
    );
    const after = new Uint8Array(4096);
    await saver.copyToHost(allocation, after);
    expect(after).toEqual(before);
    await saver.free(allocation);
  });
});
