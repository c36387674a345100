import { defineConfig } from 'vitest/config';

// Tests that bound how long the event loop is held (`*.timing.test.ts`): one file at a time,
// after the other packages' tests, so no other test's load is measured with them.
export default defineConfig({
  test: {
    include: ['src/**/*.timing.test.ts'],
    fileParallelism: false,
  },
});
