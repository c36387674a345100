import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      exclude: [
        'src/**/*.test.ts',
        'src/**/*.test-helpers.ts',
        'src/index.ts',
        'src/types.ts',
        'src/bench/**',
      ],
      reporter: ['text-summary'],
    },
  },
});
