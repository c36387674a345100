import { packageTests } from '../../config/vitest.js';

export default packageTests({
  test: {
    // `// @module-tag cuda` marks a file scripts/device-run.sh also runs on the CUDA backend.
    tags: [{ name: 'cuda', description: 'also runs on the CUDA backend (scripts/device-run.sh)' }],
    // Tests that time the event loop run alone after everything else (vitest.timing.config.ts).
    exclude: ['src/**/*.timing.test.ts', '**/node_modules/**'],
  },
  // Entry points that run only in a worker thread or a child process (covered by the
  // engine and e2e tests, which v8 coverage here does not see), and the TTY progress bar.
  uncovered: [
    'src/**/*.test-helpers.ts',
    'src/types.ts',
    // Benches print tables; their smoke tests run them, the gate does not count them.
    'src/bench/**',
    'src/rank/rank-worker.ts',
    'src/rank/rank-control.ts',
    'src/cli/main.ts',
    'src/cli/load-progress.ts',
  ],
});
