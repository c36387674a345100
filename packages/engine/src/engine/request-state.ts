import type { FinishReason } from '@ts/scheduler';
import type { GenerateChunk, GenerateMeta, GenerateOutput } from '../engine-api.js';
import type { StreamDecoder, Tokenizer } from '../tokenizer/tokenizer.js';

/** What the rank reports with one output token, each where the request asked for it. */
export interface TokenLogprobs {
  logprob?: number;
  /** The `tokenIdsLogprob` ids' logprobs. */
  chosen?: readonly number[];
  /** The most likely tokens, most likely first. */
  top?: { ids: readonly number[]; logprobs: readonly number[] };
}

export interface RequestOptions {
  /** Strings that end the text (left out of it). */
  stops?: readonly string[];
  /** Default true. */
  skipSpecialTokens?: boolean;
  /** Keep a matched stop string at the end of the text. */
  noStopTrim?: boolean;
  /** The weights' current version, read when the request ends. */
  weightVersion?: () => string;
  /** Keep each token's logprob (and with `returnTextInLogprobs`, its text decoded alone). */
  returnLogprob?: boolean;
  returnTextInLogprobs?: boolean;
  /** Ids whose logprobs every output position reports (with `returnLogprob`). */
  tokenIdsLogprob?: readonly number[];
  /** How many most likely tokens every output position reports (with `returnLogprob`). */
  topLogprobsNum?: number;
  /** Input-token logprobs wanted: the prompt's ids, and the index they start at. */
  inputLogprobsOf?: { promptIds: readonly number[]; start: number };
}

/**
 * One request on the main side: its output ids and text, stop strings (checked here, where the
 * tokenizer is), and the callers waiting for updates or the end.
 */
export class RequestState {
  readonly ids: number[] = [];
  /** With `returnLogprob`: `[logprob, id, text | null]` per id, built as tokens arrive. */
  private readonly logprobEntries: [number, number, string | null][] = [];
  private inputEntries: [number | null, number, string | null][] | null = null;
  private readonly chosenEntries: [number, number, string | null][][] = [];
  private readonly topEntries: [number, number, string | null][][] = [];
  private readonly topLogprobsNum: number;
  private readonly tokenIdsLogprob: readonly number[];
  private readonly inputLogprobsOf: RequestOptions['inputLogprobsOf'];
  text = '';
  finish: GenerateMeta['finishReason'] = null;
  private readonly started = performance.now();
  private readonly listeners = new Set<() => void>();
  private endedWeightVersion: string | null = null;

  /** Text as tokens arrive, a short window decoded each time (not every id again). */
  private readonly decoder: StreamDecoder | null;
  private readonly longestStop: number;
  private stopped = false;

  private readonly stops: readonly string[];
  private readonly skipSpecialTokens: boolean;
  private readonly noStopTrim: boolean;
  private readonly currentWeightVersion: () => string;
  readonly returnLogprob: boolean;
  private readonly returnTextInLogprobs: boolean;

  constructor(
    readonly rid: string,
    readonly promptTokens: number,
    private readonly tokenizer: Tokenizer | null,
    options: RequestOptions = {},
  ) {
    this.stops = options.stops ?? [];
    this.skipSpecialTokens = options.skipSpecialTokens ?? true;
    this.noStopTrim = options.noStopTrim ?? false;
    this.currentWeightVersion = options.weightVersion ?? (() => 'default');
    this.returnLogprob = options.returnLogprob ?? false;
    this.returnTextInLogprobs = options.returnTextInLogprobs ?? false;
    this.inputLogprobsOf = options.inputLogprobsOf;
    this.tokenIdsLogprob = options.tokenIdsLogprob ?? [];
    this.topLogprobsNum = options.topLogprobsNum ?? 0;
    this.decoder =
      tokenizer?.createStreamDecoder({ skipSpecialTokens: this.skipSpecialTokens }) ?? null;
    this.longestStop = Math.max(0, ...this.stops.map((stop) => stop.length));
  }

  get done(): boolean {
    return this.finish !== null;
  }

  /**
   * Adds a token (with its log-probability when the request asked for them); returns the stop
   * string it completed, if any (the caller then aborts).
   */
  push(token: number, logprobs: TokenLogprobs = {}): string | null {
    const { logprob, chosen, top } = logprobs;
    if (this.stopped) return null;
    if (this.returnLogprob) {
      this.logprobEntries.push([logprob ?? Number.NaN, token, this.textInLogprobs(token)]);
    }
    if (this.topLogprobsNum > 0) {
      this.topEntries.push(
        (top?.ids ?? []).map((id, j): [number, number, string | null] => [
          top?.logprobs[j] ?? Number.NaN,
          id,
          this.textInLogprobs(id),
        ]),
      );
    }
    if (this.tokenIdsLogprob.length > 0) {
      this.chosenEntries.push(
        this.tokenIdsLogprob.map((id, j): [number, number, string | null] => [
          chosen?.[j] ?? Number.NaN,
          id,
          this.textInLogprobs(id),
        ]),
      );
    }
    this.ids.push(token);
    if (this.decoder) {
      const before = this.text.length;
      this.text += this.decoder.push(token);
      // Only the new text, and the tail before it that a stop string could start in.
      const from = Math.max(0, before - this.longestStop + 1);
      for (const stop of this.stops) {
        const at = this.text.indexOf(stop, from);
        if (at >= 0) {
          this.text = this.text.slice(0, this.noStopTrim ? at + stop.length : at);
          this.stopped = true;
          return stop;
        }
      }
    }
    this.notify();
    return null;
  }

  /** A token's text in logprob entries: decoded alone with `returnTextInLogprobs`, else null. */
  private textInLogprobs(id: number): string | null {
    return this.returnTextInLogprobs && this.tokenizer ? this.tokenizer.decode([id]) : null;
  }

  /** The prompt's token logprobs from the start index on (the rank sends them once). */
  setInputLogprobs(values: readonly number[]): void {
    const of = this.inputLogprobsOf;
    if (!of || this.inputEntries) return;
    const text = (id: number) => this.textInLogprobs(id);
    const from = Math.max(of.start, 1);
    this.inputEntries = of.promptIds
      .slice(of.start)
      .map((id, j): [number | null, number, string | null] => {
        const k = of.start + j;
        return [k === 0 ? null : (values[k - from] ?? Number.NaN), id, text(id)];
      });
  }

  end(reason: FinishReason, matched?: number | string, message?: string): void {
    if (this.done) return;
    this.endedWeightVersion = this.currentWeightVersion();
    // The final text is one decode of every id, exactly as a whole-sequence decode has it.
    if (this.tokenizer && !this.stopped)
      this.text = this.tokenizer.decode(this.ids, { skipSpecialTokens: this.skipSpecialTokens });
    this.finish = {
      type: reason,
      ...(matched !== undefined ? { matched } : {}),
      ...(message ? { message } : {}),
    };
    this.notify();
  }

  snapshot(): GenerateOutput {
    return {
      text: this.done ? this.text : this.withoutPartialStop(),
      outputIds: [...this.ids],
      metaInfo: {
        id: this.rid,
        promptTokens: this.promptTokens,
        completionTokens: this.ids.length,
        finishReason: this.finish,
        e2eLatency: (performance.now() - this.started) / 1000,
        weightVersion: this.endedWeightVersion ?? this.currentWeightVersion(),
        ...(this.returnLogprob
          ? {
              outputTokenLogprobs: this.logprobEntries.slice(),
            }
          : {}),
        ...(this.inputEntries ? { inputTokenLogprobs: this.inputEntries } : {}),
        ...(this.tokenIdsLogprob.length > 0
          ? { outputTokenIdsLogprobs: this.chosenEntries.slice() }
          : {}),
        ...(this.topLogprobsNum > 0 ? { outputTopLogprobs: this.topEntries.slice() } : {}),
      },
    };
  }

  /** Resolves with the final output. */
  result(): Promise<GenerateOutput> {
    return new Promise((resolve) => {
      const check = () => {
        if (!this.done) return;
        this.listeners.delete(check);
        resolve(this.snapshot());
      };
      this.listeners.add(check);
      check();
    });
  }

  /** Yields a snapshot after every change, the last one with `finishReason` set. */
  async *updates(): AsyncGenerator<GenerateChunk> {
    let seen = -1;
    while (true) {
      if (this.ids.length !== seen || this.done) {
        seen = this.ids.length;
        const snapshot = this.snapshot();
        yield snapshot;
        if (snapshot.metaInfo.finishReason) return;
        continue;
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.listeners.delete(wake);
          resolve();
        };
        this.listeners.add(wake);
      });
    }
  }

  /** Holds back a tail that may be the start of a stop string, so streamed text only grows. */
  private withoutPartialStop(): string {
    let keep = this.text.length;
    for (const stop of this.stops) {
      for (let n = Math.min(stop.length - 1, this.text.length); n > 0; n--) {
        if (this.text.endsWith(stop.slice(0, n))) {
          keep = Math.min(keep, this.text.length - n);
          break;
        }
      }
    }
    return this.text.slice(0, keep);
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}
