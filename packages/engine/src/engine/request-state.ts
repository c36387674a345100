import type { FinishReason } from '@ts/scheduler';
import type { GenerateChunk, GenerateMeta, GenerateOutput } from '../engine-api.js';
import type { StreamDecoder, Tokenizer } from '../tokenizer/tokenizer.js';
import { LogprobRecord, type LogprobRequest, type TokenLogprobs } from './logprob-record.js';

export interface RequestOptions extends LogprobRequest {
  /** Strings that end the text (left out of it). */
  stops?: readonly string[];
  /** Default true. */
  skipSpecialTokens?: boolean;
  /** Keep a matched stop string at the end of the text. */
  noStopTrim?: boolean;
  /** The weights' current version, read when the request ends. */
  weightVersion?: () => string;
  /** max_new_tokens 0: the token the rank samples anyway is dropped (a prompt scored only). */
  dropsOutput?: boolean;
}

/**
 * One request on the main side: its output ids and text, stop strings (checked here, where the
 * tokenizer is), and the callers waiting for updates or the end.
 */
export class RequestState {
  readonly ids: number[] = [];
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
  private readonly logprobs: LogprobRecord;
  private readonly dropsOutput: boolean;

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
    this.logprobs = new LogprobRecord(options, tokenizer);
    this.dropsOutput = options.dropsOutput ?? false;
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
    if (this.stopped || this.dropsOutput) return null;
    this.logprobs.add(token, logprobs);
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

  /** The prompt's token logprobs from the start index on (the rank sends them once). */
  setInputLogprobs(values: readonly number[]): void {
    this.logprobs.setInput(values);
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

  /** Prompt tokens the prefix cache gave (set with the first token). */
  cachedTokens = 0;

  snapshot(): GenerateOutput {
    return {
      text: this.done ? this.text : this.withoutPartialStop(),
      outputIds: [...this.ids],
      metaInfo: {
        id: this.rid,
        promptTokens: this.promptTokens,
        cachedTokens: this.cachedTokens,
        completionTokens: this.ids.length,
        finishReason: this.finish,
        e2eLatency: (performance.now() - this.started) / 1000,
        weightVersion: this.endedWeightVersion ?? this.currentWeightVersion(),
        ...this.logprobs.meta(),
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
