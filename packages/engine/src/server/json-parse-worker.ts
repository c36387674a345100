// The entry of the JSON parse threads (a Piscina pool, `json-parse-pool.ts`): large bodies
// are parsed and their prompts measured here, off the main thread.
import { type JsonParseOutcome, parseJson } from './json-parse.js';
import type { PromptBound } from './prompt-bound.js';

/** One body to parse: its blocks (moved here, not copied) and its route's prompt bound. */
export interface JsonParseTask {
  blocks: Uint8Array[];
  prompt: PromptBound | null;
}

export default function parseTask(task: JsonParseTask): JsonParseOutcome {
  return parseJson(task.blocks, task.prompt);
}
