// pnpm bench:rollout [--device cpu|cuda] [--model builtin:tiny|PATH] [--dtype auto] [--prompts 4]
//   [--samples 8] [--min-prompt 256] [--max-prompt 1024] [--max-new-tokens 512]
//   [--median-new-tokens cap/6] [--length-sigma 1] [--seed 0] [--kv-memory-fraction F]
//   [--max-running N] [--max-batch-tokens N] [--reference-steps 32]
// The whole engine on a GRPO-shaped rollout (P prompts × n samples, long-tailed output lengths,
// logprobs), beside bench:decode's figure at the rollout's mean batch and decode context.
import { sizeIoThreads } from '../io-threads.js';
import { runBench } from './run-bench.js';
import { runRolloutBench } from './run-rollout-bench.js';

sizeIoThreads();
await runBench(
  'pnpm bench:rollout [--device cpu|cuda] [--model PATH] [--prompts P] [--samples n] ' +
    '[--max-new-tokens cap] ... (the flags are listed at the top of src/bench/rollout-bench.ts)',
  () => runRolloutBench(process.argv.slice(2), (line) => console.log(line)),
);
