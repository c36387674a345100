import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { TcpStore } from './tcp-store.js';

// Against the real thing: PyTorch's own TCPStore server, in a Python with torch (TS_TORCH_PYTHON;
// the device machine has one, CI does not: scripts/device-run.sh test-torch-store runs this).
const PYTHON = process.env.TS_TORCH_PYTHON || undefined;

/** Starts torch's TCPStore as master; it publishes a key, then waits for ours and prints it. */
const TORCH_SIDE = `
import sys, torch.distributed as dist
store = dist.TCPStore("127.0.0.1", 0, world_size=2, is_master=True, wait_for_workers=False)
print(store.port, flush=True)
store.set("from_torch", bytes(range(200)))
store.add("joined", 1)
store.wait(["from_engine"])
print(store.get("from_engine").hex(), store.add("joined", 0), flush=True)
`;

describe.skipIf(!PYTHON)("the TCP store client against torch's TCPStore (TS_TORCH_PYTHON)", () => {
  it('reads what torch published, and torch reads what it set', async () => {
    const torch = spawn(PYTHON as string, ['-c', TORCH_SIDE], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines: string[] = [];
    const waiters: (() => void)[] = [];
    torch.stdout.on('data', (chunk: Buffer) => {
      lines.push(
        ...chunk
          .toString()
          .split('\n')
          .filter((l) => l !== ''),
      );
      for (const waiter of waiters.splice(0)) waiter();
    });
    const exited = new Promise<never>((_, reject) =>
      torch.once('exit', (code) => reject(new Error(`torch's side exited ${code}`))),
    );
    exited.catch(() => undefined);
    /** Line n of what torch's side prints. */
    const line = (n: number) =>
      Promise.race([
        new Promise<string>((resolve) => {
          const check = () =>
            lines.length > n ? resolve(lines[n] as string) : waiters.push(check);
          check();
        }),
        exited,
      ]);
    const port = Number(await line(0));
    const store = await TcpStore.connect('127.0.0.1', port, { timeoutMs: 20_000 });
    try {
      expect([...(await store.get('from_torch'))]).toEqual(
        Array.from({ length: 200 }, (_, i) => i),
      );
      expect(await store.add('joined', 1n)).toBe(2n);
      await store.set('from_engine', Uint8Array.of(0xde, 0xad, 0xbe, 0xef));
      expect(await line(1)).toBe('deadbeef 2');
    } finally {
      store.close();
      torch.kill();
    }
  }, 60_000);
});
