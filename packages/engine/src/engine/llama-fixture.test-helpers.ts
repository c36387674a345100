import { resolve } from 'node:path';
import type { GenerateInput } from '../engine-api.js';
import { DEVICE, FIXTURES } from '../model/runner.test-helpers.js';
import type { Engine } from './engine.js';
import { engineLauncher } from './engine.test-helpers.js';

/** The llama fixture: a real checkpoint on disk, for the tests that update weights from one. */
export const LLAMA = resolve(FIXTURES, 'llama');

/** 16 greedy tokens: what tells one set of the fixture's weights from another. */
const REQUEST: GenerateInput = {
  inputIds: [1, 5, 9, 33, 2],
  samplingParams: { maxNewTokens: 16, ignoreEos: true },
};

/** `launch(options)` on the llama fixture, 128 pages of 4 tokens; shut down after each test. */
export function llamaLauncher() {
  return engineLauncher({
    model: LLAMA,
    device: DEVICE,
    numPages: 128,
    pageSize: 4,
    maxContext: 512,
  });
}

/** The tokens `engine` generates for the request that tells weights apart. */
export async function outputOf(engine: Engine): Promise<number[]> {
  return (await engine.generate(REQUEST)).outputIds;
}
