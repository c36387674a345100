// pnpm bench:non-finite [--mib 1024] [--repeats 5]
// The rate of countNonFinite over a finite buffer (every value read, none found), per dtype,
// beside one plain copy of the same buffer on the main thread as a yardstick.
import { parseArgs } from 'node:util';
import { countNonFinite } from '../non-finite.js';
import type { DType } from '../ops-types.js';

const { values } = parseArgs({
  options: { mib: { type: 'string', default: '1024' }, repeats: { type: 'string', default: '5' } },
});
const bytes = Number(values.mib) * 2 ** 20;
const repeats = Number(values.repeats);
const buffer = new Uint8Array(bytes);
// 1.0 in every dtype's low half-words: finite as float32, bfloat16 and float16 alike.
new Uint16Array(buffer.buffer).fill(0x3c00);
const gbPerS = (ms: number) => bytes / 1e9 / (ms / 1000);

async function best(run: () => unknown): Promise<number> {
  let fastest = Number.POSITIVE_INFINITY;
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    await run();
    fastest = Math.min(fastest, performance.now() - start);
  }
  return fastest;
}

const rows: Record<string, string>[] = [];
for (const dtype of ['float32', 'bfloat16', 'float16'] as DType[]) {
  const ms = await best(async () => {
    const found = await countNonFinite(buffer, dtype);
    if (found.count !== 0) throw new Error(`${dtype}: found ${found.count} in a finite buffer`);
  });
  rows.push({ scan: `countNonFinite ${dtype}`, ms: ms.toFixed(1), 'GB/s': gbPerS(ms).toFixed(1) });
}
const copy = new Uint8Array(bytes);
const copyMs = await best(() => copy.set(buffer));
rows.push({
  scan: 'TypedArray.set (one thread)',
  ms: copyMs.toFixed(1),
  'GB/s': gbPerS(copyMs).toFixed(1),
});
console.log(
  `${values.mib} MiB, best of ${repeats}, TS_CPU_THREADS=${process.env.TS_CPU_THREADS ?? 'all'}`,
);
console.table(rows);
