// pnpm bench:memory [--device cuda|cpu] [--sizes 1,4,16] [--cycles 5] [--zeroed-only]
//   [--idle-ms 0] (an idle gap between each zeroed row's pause and resume, as in the RL loop)
// Pause / resume times of the saver beside a plain pinned cudaMemcpy of the same size, then
// resumes that zero discarded memory (the KV cache's) beside one plain fill of it.
import { parseArgs } from 'node:util';
import { createMemorySaver, type MemorySaver } from '../memory-saver.js';
import { loadAddon } from '../native-binding.js';
import type { CpuBackup } from '../types.js';

const GiB = 1024 ** 3;
const { values } = parseArgs({
  options: {
    device: { type: 'string', default: 'cuda' },
    sizes: { type: 'string', default: '1,4,16' },
    cycles: { type: 'string', default: '5' },
    'zeroed-only': { type: 'boolean', default: false },
    'idle-ms': { type: 'string', default: '0' },
  },
});
const device = values.device === 'cpu' ? 'cpu' : 'cuda';
const sizes = values.sizes.split(',').map(Number);
const cycles = Number(values.cycles);

interface Row {
  size: string;
  mode: string;
  allocMs: number;
  cycle: number;
  pauseMs: number;
  resumeMs: number;
  detail: string;
  pauseGBs: number;
  resumeGBs: number;
  pauseVsRaw: number | null;
  resumeVsRaw: number | null;
}

const median = (xs: number[]) =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

function rawCopy(bytes: number): { pinMs: number; d2hMs: number; h2dMs: number } | null {
  if (device !== 'cuda') return null;
  const raw = loadAddon().rawCopyBench(0, bytes, 3);
  const gbs = (ms: number) => fmt(bytes / 1e6 / ms);
  console.log(
    `<!-- raw ${bytes / GiB} GiB: H2D whole ${gbs(median(raw.h2dMs))} GB/s, in pieces ${gbs(raw.h2dPiecesMs)} GB/s; ` +
      `cudaHostRegister ${fmt(raw.registerMs)} ms, H2D from it ${gbs(raw.h2dRegisteredMs)} GB/s, D2H to it ${gbs(raw.d2hRegisteredMs)} GB/s -->`,
  );
  return { pinMs: raw.pinMs, d2hMs: median(raw.d2hMs), h2dMs: median(raw.h2dMs) };
}

async function measure(
  saver: MemorySaver,
  gib: number,
  mode: CpuBackup,
  raw: ReturnType<typeof rawCopy>,
): Promise<Row[]> {
  const bytes = Math.round(gib * GiB);
  const tag = `bench-${String(mode)}`;
  const t0 = performance.now();
  const allocation = await saver.allocate(bytes, { tag, cpuBackup: mode });
  const allocMs = performance.now() - t0;
  if (mode === 'tracked')
    await saver.loadThroughBackup(allocation, (view) => {
      view.fill(7);
    });
  else await saver.fill(allocation, 7);
  const rows: Row[] = [];
  for (let cycle = 1; cycle <= cycles; cycle++) {
    if (mode === true) await saver.fill(allocation, cycle, 0, 4096);
    const pause = await saver.pause(tag);
    const resume = await saver.resume(tag);
    const copies = mode !== false;
    rows.push({
      size: `${gib} GiB`,
      mode: mode === false ? 'discard' : mode === true ? 'backup (dirty)' : 'backup (clean)',
      allocMs,
      cycle,
      pauseMs: pause.durationMs,
      resumeMs: resume.durationMs,
      detail: `${fmt(pause.copyMs, 2)} + ${fmt(pause.mapMs, 2)} / ${fmt(resume.mapMs, 2)} of ${fmt(resume.copyMs, 2)}`,
      pauseGBs: pause.copiedBytes / 1e6 / pause.durationMs,
      resumeGBs: resume.copiedBytes / 1e6 / resume.durationMs,
      pauseVsRaw: raw && copies && mode === true ? pause.durationMs / raw.d2hMs : null,
      resumeVsRaw: raw && copies ? resume.durationMs / raw.h2dMs : null,
    });
  }
  await saver.free(allocation);
  return rows;
}

/**
 * Discarded memory zeroed on resume (the KV cache): when the resume returns (the fills are
 * only queued), when the zeros have landed, the mapping's share, and one plain fill of it all.
 */
async function measureZeroed(saver: MemorySaver, gib: number): Promise<string[]> {
  const bytes = Math.round(gib * GiB);
  const allocation = await saver.allocate(bytes, { tag: 'bench-zeroed', cpuBackup: false });
  saver.setZeroOnResume(allocation, true);
  const rows: string[] = [];
  for (let cycle = 1; cycle <= cycles; cycle++) {
    await saver.pause('bench-zeroed');
    await new Promise((resolve) => setTimeout(resolve, Number(values['idle-ms'])));
    const start = performance.now();
    const resume = await saver.resume('bench-zeroed');
    const returned = performance.now() - start;
    await saver.checksum(allocation, 0, 8); // stream-ordered after every fill
    const landed = performance.now() - start;
    const fillStart = performance.now();
    await saver.fill(allocation, 0);
    const fillMs = performance.now() - fillStart;
    rows.push(
      `| ${gib} GiB | ${cycle} | ${fmt(returned, 2)} | ${fmt(resume.mapMs, 2)} | ${fmt(landed, 2)} | ${fmt(fillMs, 2)} (${fmt(bytes / 1e6 / fillMs)} GB/s) |`,
    );
  }
  await saver.free(allocation);
  return rows;
}

const fmt = (x: number | null, digits = 1) =>
  x === null || Number.isNaN(x) ? '-' : x.toFixed(digits);

async function main(): Promise<void> {
  const saver = createMemorySaver({ device });
  console.log(`# memory bench on ${saver.deviceName}, ${cycles} cycles per row`);
  console.log(
    '| size | mode | alloc ms | cycle | pause ms | resume ms | pause GB/s | resume GB/s | pause / raw D2H | resume / raw H2D | pause copy + unmap ms / resume map of total ms |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const gib of sizes) {
    const raw = rawCopy(Math.round(gib * GiB));
    if (raw) {
      const gbs = (ms: number) => (gib * GiB) / 1e6 / ms;
      console.log(
        `| ${gib} GiB | raw pinned cudaMemcpy | ${fmt(raw.pinMs)} (cudaMallocHost) | - | ${fmt(raw.d2hMs)} (D2H) | ${fmt(raw.h2dMs)} (H2D) | ${fmt(gbs(raw.d2hMs))} | ${fmt(gbs(raw.h2dMs))} | 1.00 | 1.00 | - |`,
      );
    }
    for (const mode of [false, true, 'tracked'] as const) {
      for (const r of await measure(saver, gib, mode, raw)) {
        console.log(
          `| ${r.size} | ${r.mode} | ${fmt(r.allocMs)} | ${r.cycle} | ${fmt(r.pauseMs, 2)} | ${fmt(r.resumeMs, 2)} | ${fmt(r.pauseGBs)} | ${fmt(r.resumeGBs)} | ${fmt(r.pauseVsRaw, 2)} | ${fmt(r.resumeVsRaw, 2)} | ${r.detail} |`,
        );
      }
    }
  }
}

async function zeroedTable(): Promise<void> {
  const saver = createMemorySaver({ device });
  console.log(
    '\n| size | cycle | resume returns ms | of which mapping ms | zeros landed ms | plain fill ms |',
  );
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const gib of sizes) for (const row of await measureZeroed(saver, gib)) console.log(row);
}

if (!values['zeroed-only']) await main();
await zeroedTable();
