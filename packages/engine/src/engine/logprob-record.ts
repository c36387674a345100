import type { GenerateMeta } from '../engine-api.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';

/** `[logprob, token id, text]`: the shape of every logprob entry a reply carries. */
type Entry = [number, number, string | null];

/** What the rank reports with one output token, each where the request asked for it. */
export interface TokenLogprobs {
  logprob?: number;
  /** The `tokenIdsLogprob` ids' logprobs. */
  chosen?: readonly number[];
  /** The most likely tokens, most likely first. */
  top?: { ids: readonly number[]; logprobs: readonly number[] };
}

/** The logprobs a request asked for (all off by default). */
export interface LogprobRequest {
  /** Each output token's logprob (and with `returnTextInLogprobs`, its text decoded alone). */
  returnLogprob?: boolean;
  returnTextInLogprobs?: boolean;
  /** Ids whose logprobs every output position reports. */
  tokenIdsLogprob?: readonly number[];
  /** How many most likely tokens every output position reports. */
  topLogprobsNum?: number;
  /** Input-token logprobs: the prompt's ids, and the index they start at. */
  inputLogprobsOf?: { promptIds: readonly number[]; start: number };
}

/**
 * One request's logprob entries, built as its tokens arrive (a snapshot copies the lists, it
 * does not build them again), in the shapes `GenerateMeta` carries.
 */
export class LogprobRecord {
  private readonly output: Entry[] = [];
  private readonly chosen: Entry[][] = [];
  private readonly top: Entry[][] = [];
  private input: [number | null, number, string | null][] | null = null;

  constructor(
    private readonly asked: LogprobRequest,
    private readonly tokenizer: Tokenizer | null,
  ) {}

  add(token: number, reported: TokenLogprobs): void {
    const { returnLogprob, tokenIdsLogprob = [], topLogprobsNum = 0 } = this.asked;
    if (returnLogprob) this.output.push([reported.logprob ?? Number.NaN, token, this.text(token)]);
    if (topLogprobsNum > 0) {
      const { ids = [], logprobs = [] } = reported.top ?? {};
      this.top.push(ids.map((id, j): Entry => [logprobs[j] ?? Number.NaN, id, this.text(id)]));
    }
    if (tokenIdsLogprob.length > 0) {
      this.chosen.push(
        tokenIdsLogprob.map(
          (id, j): Entry => [reported.chosen?.[j] ?? Number.NaN, id, this.text(id)],
        ),
      );
    }
  }

  /** The prompt's token logprobs from the start index on (the rank sends them once). */
  setInput(values: readonly number[]): void {
    const of = this.asked.inputLogprobsOf;
    if (!of || this.input) return;
    const from = Math.max(of.start, 1);
    this.input = of.promptIds
      .slice(of.start)
      .map((id, j): [number | null, number, string | null] => {
        const k = of.start + j;
        return [k === 0 ? null : (values[k - from] ?? Number.NaN), id, this.text(id)];
      });
  }

  /** The entries so far, as `GenerateMeta` fields (only those asked for). */
  meta(): Pick<
    GenerateMeta,
    'outputTokenLogprobs' | 'inputTokenLogprobs' | 'outputTokenIdsLogprobs' | 'outputTopLogprobs'
  > {
    const { returnLogprob, tokenIdsLogprob = [], topLogprobsNum = 0 } = this.asked;
    return {
      ...(returnLogprob ? { outputTokenLogprobs: this.output.slice() } : {}),
      ...(this.input ? { inputTokenLogprobs: this.input } : {}),
      ...(tokenIdsLogprob.length > 0 ? { outputTokenIdsLogprobs: this.chosen.slice() } : {}),
      ...(topLogprobsNum > 0 ? { outputTopLogprobs: this.top.slice() } : {}),
    };
  }

  /** A token's text in entries: decoded alone with `returnTextInLogprobs`, else null. */
  private text(id: number): string | null {
    return this.asked.returnTextInLogprobs && this.tokenizer ? this.tokenizer.decode([id]) : null;
  }
}
