import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // `// @module-tag cuda` marks a file scripts/device-run.sh also runs on the CUDA backend.
    tags: [{ name: 'cuda', description: 'also runs on the CUDA backend (scripts/device-run.sh)' }],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
