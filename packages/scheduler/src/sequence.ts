export type SequenceStatus = 'waiting' | 'running' | 'finished';
export type FinishReason = 'stop' | 'length' | 'abort';

/**
 * One request as the scheduler sees it: its tokens, where its KV lives (page table) and how
 * much of it is computed. `retract()` is the one way back to the waiting queue.
 */
export class Sequence {
  status: SequenceStatus = 'waiting';
  finishReason: FinishReason | null = null;
  /** Pages holding this sequence's KV, in token order. */
  pageTable: number[] = [];
  /** Tokens whose KV is in the pages (computed or taken from the prefix cache). */
  computedTokens = 0;
  private readonly tokens: number[];

  constructor(
    readonly id: string,
    promptTokens: readonly number[],
    readonly maxNewTokens: number,
  ) {
    if (promptTokens.length === 0) throw new Error(`sequence ${id}: the prompt is empty`);
    if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) {
      throw new RangeError(`sequence ${id}: maxNewTokens must be a non-negative integer`);
    }
    this.tokens = [...promptTokens];
    this.promptLength = promptTokens.length;
  }

  readonly promptLength: number;

  get length(): number {
    return this.tokens.length;
  }

  get outputTokens(): number[] {
    return this.tokens.slice(this.promptLength);
  }

  get allTokens(): readonly number[] {
    return this.tokens;
  }

  get lastToken(): number {
    return this.tokens[this.tokens.length - 1] as number;
  }

  /** Pages needed to hold every token so far, at `pageSize` tokens a page. */
  pagesNeeded(pageSize: number): number {
    return Math.ceil(this.tokens.length / pageSize);
  }

  appendToken(token: number): void {
    if (this.status !== 'running') throw new Error(`sequence ${this.id} is ${this.status}`);
    this.tokens.push(token);
    if (this.outputTokens.length >= this.maxNewTokens) this.finish('length');
  }

  finish(reason: FinishReason): void {
    this.status = 'finished';
    this.finishReason = reason;
  }

  /** Back to waiting with no KV: generated tokens are kept and recomputed as prompt. */
  retract(): number[] {
    const pages = this.pageTable;
    this.pageTable = [];
    this.computedTokens = 0;
    this.status = 'waiting';
    return pages;
  }
}
