// pnpm bench:sleep --model PATH [--device cuda|cpu] [--dtype bfloat16] [--cycles 3]
//   [--kv-memory-fraction 0.3]
// The RL loop's steps, timed, with the driver's free memory after each, beside a cold start.
import { parseArgs } from 'node:util';
import { createMemorySaver } from '@ts/memory-saver-native';
import { Engine } from '../engine/engine.js';
import type { LaunchOptions } from '../engine/launch-options.js';
import type { TensorDtype } from '../model/loader/tensor-source.js';
import { stepTrace } from '../trace/step-trace.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    device: { type: 'string', default: 'cuda' },
    dtype: { type: 'string', default: 'bfloat16' },
    cycles: { type: 'string', default: '3' },
    'kv-memory-fraction': { type: 'string', default: '0.3' },
  },
});
if (!values.model)
  throw new Error(
    '--model PATH is required (a checkpoint on disk: the loop updates weights from it)',
  );
const device = values.device === 'cpu' ? 'cpu' : 'cuda';
const launch: LaunchOptions = {
  model: values.model,
  device,
  dtype: values.dtype as TensorDtype,
  kvMemoryFraction: Number(values['kv-memory-fraction']),
  maxContext: 1024,
};
const probe = createMemorySaver({ device });
const GiB = 1024 ** 3;
const free = () => probe.deviceMemory().free / GiB;

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
  const prompt = promptFor(engine);
  const [ms] = await timed('first token', async () => {
    for await (const chunk of engine.generateStream(prompt)) if (chunk.outputIds.length > 0) break;
  });
  await engine.flushCache();
  return ms;
}

function expectOk(step: string, reply: { success: boolean; message: string }): void {
  if (!reply.success) throw new Error(`${step} failed: ${reply.message}`);
}

const freeBefore = free();
const [launchMs, engine] = await timed('launch', () => Engine.launch(launch));
const coldMs = launchMs + (await firstToken(engine));
const freeAwake = free();
const awakeFirstMs = await firstToken(engine);
const rows: string[] = [];
const wakes: number[] = [];
for (let cycle = 1; cycle <= Number(values.cycles); cycle++) {
  await engine.generate(promptFor(engine));
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
  for (const [name, run] of steps) {
    const [ms, reply] = await timed(name, run);
    expectOk(name, reply);
    if (name.startsWith('resume')) wake += ms;
    rows.push(`| ${cycle} | ${name} | ${ms.toFixed(1)} | ${free().toFixed(2)} |`);
  }
  const first = await firstToken(engine);
  wake += first;
  wakes.push(wake);
  rows.push(`| ${cycle} | first token after wake | ${first.toFixed(1)} | ${free().toFixed(2)} |`);
}
const info = engine.modelInfo();
await engine.shutdown();
const bestWake = Math.min(...wakes);
console.log(
  `# sleep bench: ${info.architecture} ${values.model} on ${info.device}, ${info.dtype}, ` +
    `KV cache ${values['kv-memory-fraction']} of free memory`,
);
console.log(
  `free device memory: ${freeBefore.toFixed(2)} GiB before the engine, ${freeAwake.toFixed(2)} GiB awake`,
);
console.log('| cycle | step | ms | free GiB after |');
console.log('| --- | --- | --- | --- |');
for (const row of rows) console.log(row);
console.log(
  `| - | cold start (launch → first token) | ${coldMs.toFixed(1)} | ${freeAwake.toFixed(2)} |`,
);
console.log(
  `| - | first token, awake engine (no release) | ${awakeFirstMs.toFixed(1)} | ${freeAwake.toFixed(2)} |`,
);
console.log(
  `wake (resume weights + resume kv_cache + first token), best of ${wakes.length}: ${bestWake.toFixed(1)} ms; cold start ${coldMs.toFixed(0)} ms: ${(coldMs / bestWake).toFixed(0)}x faster`,
);
