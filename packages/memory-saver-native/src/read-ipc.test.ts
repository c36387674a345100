import { describe, expect, it } from 'vitest';
import { DEVICE, openSaver } from './memory-saver.test-helpers.js';

// The CUDA path (open, wait, copy, close) is exercised end to end by a PyTorch trainer on the
// device (e2e/tests/torch-trainer.test.ts with TS_E2E_TRAINER_DEVICE=cuda).
describe.skipIf(DEVICE !== 'cpu')('MemorySaver.readIpc on the CPU backend', () => {
  it('is refused, naming the backend, and leaves the saver usable', async () => {
    const saver = openSaver();
    const memory = { handle: new Uint8Array(64), event: null };
    await expect(saver.readIpc(memory, [{ offset: 0, bytes: new Uint8Array(4) }])).rejects.toThrow(
      /^CUDA IPC handles need the CUDA backend; this engine runs on cpu$/,
    );
    const allocation = await saver.allocate(4096);
    await saver.copyFromHost(allocation, Uint8Array.of(1, 2, 3, 4));
    await saver.free(allocation);
  });
});
