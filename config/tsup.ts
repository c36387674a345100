import { defineConfig } from 'tsup';

export interface PackageBuild {
  /** The modules built to `dist`; `src/index.ts` when left out. */
  entry?: string[];
  /** The entries that get type declarations; every entry when left out. */
  declared?: string[];
}

/** A package's build: ESM for Node 22, with source maps and type declarations. */
export function packageBuild({ entry = ['src/index.ts'], declared }: PackageBuild = {}) {
  return defineConfig({
    entry,
    format: ['esm'],
    dts: declared ? { entry: declared } : true,
    sourcemap: true,
    clean: true,
    target: 'node22',
  });
}
