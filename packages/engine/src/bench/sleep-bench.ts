// pnpm bench:sleep --model PATH [--device cuda|cpu] [--dtype bfloat16] [--cycles 3]
//   [--kv-memory-fraction 0.3] [--dp-size 1]
// The RL loop's steps, timed, with the driver's free memory on every GPU in use after each,
// beside a cold start. It fails when a cycle changes the greedy output, when a rank runs a
// forward pass while released, or (on CUDA) when a release leaves more than 64 MiB of a GPU taken.
import { parseArgs } from 'node:util';
import { createMemorySaver, cudaDeviceCount } from '@ts/memory-saver-native';
import { Engine } from '../engine/engine.js';
import { sizeIoThreads } from '../io-threads.js';
import type { TensorDtype } from '../model/loader/tensor-source.js';
import type { LaunchOptions } from '../protocol/options.js';
import { stepTrace } from '../trace/step-trace.js';

sizeIoThreads();
const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    device: { type: 'string', default: 'cuda' },
    dtype: { type: 'string', default: 'bfloat16' },
    cycles: { type: 'string', default: '3' },
    'kv-memory-fraction': { type: 'string', default: '0.3' },
    'dp-size': { type: 'string', default: '1' },
  },
});
if (!values.model)
  throw new Error(
    '--model PATH is required (a checkpoint on disk: the loop updates weights from it)',
  );
const device = values.device === 'cpu' ? 'cpu' : 'cuda';
const dpSize = Number(values['dp-size']);
const gpuCount = device === 'cpu' ? 1 : Math.max(cudaDeviceCount(), 1);
const gpuIds = Array.from({ length: dpSize }, (_, r) => r % gpuCount);
const launch: LaunchOptions = {
  model: values.model,
  device,
  dtype: values.dtype as TensorDtype,
  kvMemoryFraction: Number(values['kv-memory-fraction']),
  maxContext: 1024,
  dpSize,
  gpuIds,
};
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const probes = [...new Set(gpuIds)].map((deviceIndex) =>
  createMemorySaver({ device, deviceIndex }),
);
const freeBytes = () => probes.map((p) => p.deviceMemory().free);
const gib = (bytes: number[]) => bytes.map((b) => (b / GiB).toFixed(2)).join(' / ');

async function timed<T>(label: string, run: () => Promise<T>): Promise<[number, T]> {
  stepTrace(`${label} starts`);
  const start = performance.now();
  const result = await run();
  const ms = performance.now() - start;
  stepTrace(`${label} ends`);
  return [ms, result];
}

function promptFor(engine: Engine) {
  const vocab = engine.modelInfo().vocabSize;
  return {
    inputIds: Array.from({ length: 128 }, (_, i) => (i * 7919) % vocab),
    samplingParams: { maxNewTokens: 8 },
  };
}

async function firstToken(engine: Engine): Promise<number> {
  const [ms] = await timed('first token', async () => {
    for await (const chunk of engine.generateStream(promptFor(engine)))
      if (chunk.outputIds.length > 0) break;
  });
  await engine.flushCache();
  return ms;
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(what);
}

const freeBefore = freeBytes();
const [launchMs, engine] = await timed('launch', () => Engine.launch(launch));
const coldMs = launchMs + (await firstToken(engine));
const freeAwake = freeBytes();
const awakeFirstMs = await firstToken(engine);
const reference = (await engine.generate(promptFor(engine))).outputIds.join(',');
const rows: string[] = [];
const wakes: number[] = [];
for (let cycle = 1; cycle <= Number(values.cycles); cycle++) {
  const steps: [string, () => Promise<{ success: boolean; message: string }>][] = [
    ['release all', () => engine.releaseMemoryOccupation()],
    ['resume weights', () => engine.resumeMemoryOccupation({ tags: ['weights'] })],
    [
      'update weights from disk',
      () => engine.updateWeightsFromDisk({ modelPath: values.model as string }),
    ],
    [
      'resume kv_cache + cuda_graph',
      () => engine.resumeMemoryOccupation({ tags: ['kv_cache', 'cuda_graph'] }),
    ],
  ];
  let wake = 0;
  let passesAsleep = 0;
  for (const [name, run] of steps) {
    const [ms, reply] = await timed(name, run);
    check(reply.success, `${name} failed: ${reply.message}`);
    if (name.startsWith('resume')) wake += ms;
    const free = freeBytes();
    if (name === 'release all') passesAsleep = (await engine.metrics()).forwardPassesTotal;
    // On the CPU, free memory is the host's, which also holds the weights' backups.
    if (name === 'release all' && device === 'cuda') {
      const taken = free.map((f, g) => ((freeBefore[g] as number) - f) / MiB);
      check(
        taken.every((t) => t <= 64),
        `after release, ${taken.map((t) => t.toFixed(0)).join(' / ')} MiB still taken`,
      );
    }
    if (name.startsWith('resume kv_cache')) {
      const ran = (await engine.metrics()).forwardPassesTotal - passesAsleep;
      check(ran === 0, `${ran} forward passes ran while the engine was released`);
    }
    rows.push(`| ${cycle} | ${name} | ${ms.toFixed(1)} | ${gib(free)} |`);
  }
  const first = await firstToken(engine);
  wake += first;
  wakes.push(wake);
  rows.push(`| ${cycle} | first token after wake | ${first.toFixed(1)} | ${gib(freeBytes())} |`);
  const after = (await engine.generate(promptFor(engine))).outputIds.join(',');
  check(after === reference, `cycle ${cycle} changed the greedy output: ${reference} → ${after}`);
}
const info = engine.modelInfo();
await engine.shutdown();
const bestWake = Math.min(...wakes);
console.log(
  `# sleep bench: ${info.architecture} ${values.model} on ${info.device}, ${info.dtype}, ` +
    `dp-size ${dpSize} on GPUs [${gpuIds.join(', ')}], KV cache ${values['kv-memory-fraction']} of free memory`,
);
console.log(
  `free device memory (GiB, per GPU): ${gib(freeBefore)} before the engine, ${gib(freeAwake)} awake`,
);
console.log('| cycle | step | ms | free GiB after |');
console.log('| --- | --- | --- | --- |');
for (const row of rows) console.log(row);
console.log(`| - | cold start (launch → first token) | ${coldMs.toFixed(1)} | ${gib(freeAwake)} |`);
console.log(
  `| - | first token, awake engine (no release) | ${awakeFirstMs.toFixed(1)} | ${gib(freeAwake)} |`,
);
console.log(
  `wake (resume weights + resume kv_cache and cuda_graph + first token), best of ${wakes.length}: ` +
    `${bestWake.toFixed(1)} ms; cold start ${coldMs.toFixed(0)} ms: ${(coldMs / bestWake).toFixed(0)}x faster. ` +
    `Every cycle: greedy output unchanged, no forward pass while released${device === 'cuda' ? ', each GPU within 64 MiB of its start after release' : ''}.`,
);
