import { packageBuild } from '../../config/tsup.js';

export default packageBuild({
  entry: [
    'src/index.ts',
    'src/rank/rank-worker.ts',
    'src/engine/tokenizer-worker.ts',
    'src/server/json-parse-worker.ts',
    'src/cli/main.ts',
    'src/bench/decode-bench.ts',
    'src/bench/sleep-bench.ts',
    'src/bench/detokenize-bench.ts',
    'src/bench/rollout-bench.ts',
  ],
  declared: ['src/index.ts'],
});
