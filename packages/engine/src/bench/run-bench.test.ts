import { parseArgs } from 'node:util';
import { afterEach, expect, it, vi } from 'vitest';
import { runBench } from './run-bench.js';

afterEach(() => {
  process.exitCode = 0;
  vi.restoreAllMocks();
});

it('a wrong flag prints its message and the usage with exit code 2; another failure is thrown on', async () => {
  const printed: string[] = [];
  vi.spyOn(console, 'error').mockImplementation((line: string) => printed.push(line));
  await runBench('pnpm bench:x [--n N]', async () => {
    parseArgs({ args: ['--help'], options: { n: { type: 'string' } } });
  });
  expect(process.exitCode).toBe(2);
  expect(printed).toEqual(["Unknown option '--help'\nusage: pnpm bench:x [--n N]"]);
  process.exitCode = 0;
  await runBench('u', async () => {
    throw new Error('--n takes a positive integer, got x');
  });
  expect(process.exitCode).toBe(2);
  process.exitCode = 0;
  await expect(
    runBench('u', async () => {
      throw new Error('cudaMalloc failed');
    }),
  ).rejects.toThrow('cudaMalloc failed');
  expect(process.exitCode).toBe(0);
});
