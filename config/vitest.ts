import { defineConfig, type TestUserConfig } from 'vitest/config';

export interface PackageTests {
  /** Sources the coverage gate does not count, besides the tests themselves. */
  uncovered: string[];
  /** What this package's test run sets beyond the shared defaults (tags, excludes, ...). */
  test?: Omit<TestUserConfig, 'include' | 'coverage'>;
}

/** A package's unit tests: `src/**\/*.test.ts`, gated at 95% of the lines of `src` covered. */
export function packageTests({ uncovered, test }: PackageTests) {
  return defineConfig({
    test: {
      include: ['src/**/*.test.ts'],
      ...test,
      coverage: {
        provider: 'v8',
        include: ['src/**/*.ts'],
        exclude: ['src/**/*.test.ts', ...uncovered],
        reporter: ['text-summary'],
        thresholds: { lines: 95 },
      },
    },
  });
}
