import { DEFAULT_TAGS } from '@ts/memory-occupation';
import type { ControlResult, PauseMode } from '@ts/pause';
import type {
  ChatMessageInput,
  EngineApi,
  EngineMetrics,
  GenerateChunk,
  GenerateInput,
  GenerateOutput,
  MemoryReply,
  ModelInfo,
  RequestOptions,
  SleepReply,
} from '../engine-api.js';

const TAGS: readonly string[] = DEFAULT_TAGS;

/**
 * A small in-test `EngineApi` for the HTTP layer's tests: word `w<i>` is token `100 + i`,
 * the prompt `bad` is refused, `crash` fails after the first update, a request whose rid
 * starts with `hang` waits for its abort. The memory calls follow the spec's tag rules.
 */
export class FakeEngine implements EngineApi {
  private version = 'default';
  readonly calls: Array<[string, unknown]> = [];
  released = new Set<string>();
  hasChatTemplate = true;
  private readonly hanging = new Map<string, () => void>();
  /** What `metrics()` reports as rank 0's generated tokens. */
  generated = 30;

  async generate(input: GenerateInput, options: RequestOptions = {}): Promise<GenerateOutput> {
    let last: GenerateOutput | undefined;
    for await (const chunk of this.generateStream(input, options)) last = chunk;
    return last as GenerateOutput;
  }

  /** A call's signal aborting records `['cancel', rid]` for each request it submitted. */
  async *generateStream(
    input: GenerateInput,
    options: RequestOptions = {},
  ): AsyncGenerator<GenerateChunk> {
    this.calls.push(['generate', input]);
    if (input.text === 'bad') throw Object.assign(new Error('prompt is too long'), { status: 413 });
    if (input.text === 'refuse') throw new Error('text: unknown special token');
    const rid = input.rid ?? 'generated';
    const onAbort = () => {
      this.calls.push(['cancel', rid]);
      this.wakeHanging(rid);
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      yield* this.tokens(input, rid);
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  private async *tokens(input: GenerateInput, rid: string): AsyncGenerator<GenerateChunk> {
    const promptTokens = input.inputIds?.length ?? input.text?.length ?? 0;
    const n = input.samplingParams?.maxNewTokens ?? 3;
    const started = performance.now();
    const ids: number[] = [];
    for (let i = 0; i < n; i++) {
      ids.push(100 + i);
      const finished = i === n - 1;
      yield this.output(
        rid,
        promptTokens,
        ids,
        finished ? { type: 'length' } : null,
        started,
        input,
      );
      if (input.text === 'crash') throw new Error('rank 0 died');
      if (rid.startsWith('hang') && !finished) {
        const aborted = await new Promise<boolean>((resolve) => {
          this.hanging.set(rid, () => resolve(true));
        });
        if (aborted) {
          yield this.output(rid, promptTokens, ids, { type: 'abort' }, started, input);
          return;
        }
      }
    }
  }

  private output(
    rid: string,
    promptTokens: number,
    ids: number[],
    finishReason: GenerateOutput['metaInfo']['finishReason'],
    started: number,
    input: GenerateInput,
  ): GenerateOutput {
    return {
      text: ids.map((id) => `w${id - 100}`).join(' '),
      outputIds: [...ids],
      metaInfo: {
        id: rid,
        promptTokens,
        cachedTokens: 0,
        completionTokens: ids.length,
        finishReason,
        e2eLatency: (performance.now() - started) / 1000,
        weightVersion: this.version,
        // Stand-in input logprobs: -k for prompt character k (from logprobStartLen on).
        ...(input.returnLogprob && (input.logprobStartLen ?? -1) >= 0 && input.text
          ? {
              inputTokenLogprobs: [...input.text]
                .slice(input.logprobStartLen)
                .map((c, j): [number | null, number, string | null] => {
                  const k = (input.logprobStartLen ?? 0) + j;
                  return [
                    k === 0 ? null : -k,
                    c.charCodeAt(0),
                    input.returnTextInLogprobs ? c : null,
                  ];
                }),
            }
          : {}),
        // Stand-in top logprobs: ids 1..k with -id / 2 at every position.
        ...(input.returnLogprob && (input.topLogprobsNum ?? 0) > 0
          ? {
              outputTopLogprobs: ids.map(() =>
                Array.from(
                  { length: input.topLogprobsNum ?? 0 },
                  (_, j): [number, number, string | null] => [
                    -(j + 1) / 2,
                    j + 1,
                    input.returnTextInLogprobs ? `t${j + 1}` : null,
                  ],
                ),
              ),
            }
          : {}),
        // Stand-in chosen-id logprobs: -id at every position.
        ...(input.returnLogprob && input.tokenIdsLogprob?.length
          ? {
              outputTokenIdsLogprobs: ids.map(() =>
                (input.tokenIdsLogprob ?? []).map((id): [number, number, string | null] => [
                  -id,
                  id,
                  null,
                ]),
              ),
            }
          : {}),
        // A stand-in logprob per id: -(its position + 1) / 4; its text is its word.
        ...(input.returnLogprob
          ? {
              outputTokenLogprobs: ids.map((id, i): [number, number, string | null] => [
                -(i + 1) / 4,
                id,
                input.returnTextInLogprobs ? `w${id - 100}` : null,
              ]),
            }
          : {}),
      },
    };
  }

  async abortAllRequests(): Promise<ControlResult & { abortedRequests: number }> {
    this.calls.push(['abortAllRequests', undefined]);
    return { ...ok('aborting 0 requests'), abortedRequests: 0 };
  }

  async abortRequest(rid: string): Promise<ControlResult> {
    this.calls.push(['abortRequest', rid]);
    return ok(
      this.wakeHanging(rid) ? `aborting ${rid}` : `no request ${rid} in flight: nothing aborted`,
    );
  }

  private wakeHanging(rid: string): boolean {
    const wake = this.hanging.get(rid);
    this.hanging.delete(rid);
    wake?.();
    return wake !== undefined;
  }

  async updateWeightVersion(input: {
    newVersion: string;
    abortAllRequests?: boolean;
  }): Promise<ControlResult> {
    this.calls.push(['updateWeightVersion', input]);
    this.version = input.newVersion;
    return ok(`weight version is ${input.newVersion}`);
  }

  applyChatTemplate(
    messages: ChatMessageInput[],
    addGenerationPrompt: boolean,
    variables?: Readonly<Record<string, unknown>>,
  ): string {
    if (!this.hasChatTemplate) throw new Error('the model has no chat template');
    const turns = messages.map((m) => `<${m.role}>${m.content}`).join('');
    const think = variables?.enable_thinking === false ? '<no_think>' : '';
    return addGenerationPrompt ? `${turns}<assistant>${think}` : turns;
  }

  async releaseMemoryOccupation(input: { tags?: string[] } = {}): Promise<MemoryReply> {
    this.calls.push(['release', input]);
    const tags = input.tags ?? [...TAGS];
    const problem = this.checkTags(tags, (t) => this.released.has(t), 'already released');
    if (problem) return { ...fail(problem), releasedTags: [...this.released] };
    for (const t of tags) this.released.add(t);
    return { ...ok(`released [${tags.join(', ')}]`), releasedTags: [...this.released] };
  }

  async resumeMemoryOccupation(input: { tags?: string[] } = {}): Promise<MemoryReply> {
    this.calls.push(['resume', input]);
    const tags = input.tags ?? [...this.released];
    const problem = this.checkTags(tags, (t) => !this.released.has(t), 'tags not released');
    if (problem) return { ...fail(problem), releasedTags: [...this.released] };
    for (const t of tags) this.released.delete(t);
    return { ...ok(`resumed [${tags.join(', ')}]`), releasedTags: [...this.released] };
  }

  private checkTags(tags: string[], bad: (t: string) => boolean, what: string): string | null {
    if (tags.length === 0) return 'tags is empty: omit it for every tag';
    const unknown = tags.filter((t) => !TAGS.includes(t));
    if (unknown.length > 0)
      return `unknown tags [${unknown.join(', ')}]; valid: ${TAGS.join(', ')}`;
    const wrong = tags.filter(bad);
    return wrong.length > 0 ? `${what}: [${wrong.join(', ')}]` : null;
  }

  async isSleeping(): Promise<SleepReply> {
    return { ...ok('ok'), isSleeping: this.released.size > 0, releasedTags: [...this.released] };
  }

  async pauseGeneration(input: { mode?: PauseMode } = {}): Promise<ControlResult> {
    this.calls.push(['pause', input]);
    return ok(`paused (${input.mode})`);
  }

  async continueGeneration(): Promise<ControlResult> {
    this.calls.push(['continue', undefined]);
    return ok(this.released.size > 0 ? 'continued; memory is still released' : 'running');
  }

  async flushCache(): Promise<ControlResult> {
    this.calls.push(['flush', undefined]);
    return ok('cache flushed');
  }

  async updateWeightsFromDisk(input: {
    modelPath: string;
    weightVersion?: string;
  }): Promise<ControlResult> {
    this.calls.push(['updateWeights', input]);
    if (input.modelPath.startsWith('/missing')) return fail(`no checkpoint at ${input.modelPath}`);
    this.version = input.weightVersion ?? this.version;
    return ok(`loaded ${input.modelPath}`);
  }

  async updateWeightsFromTensors(input: {
    tensors: unknown[];
    weightVersion?: string;
  }): Promise<ControlResult> {
    this.calls.push(['updateWeightsFromTensors', input]);
    this.version = input.weightVersion ?? this.version;
    return ok(`${input.tensors.length} tensors updated`);
  }

  weightVersion(): string {
    return this.version;
  }

  private updateOpen = false;

  async beginWeightUpdate(): Promise<ControlResult> {
    this.calls.push(['beginWeightUpdate', undefined]);
    if (this.updateOpen) return fail('a weight update is already open');
    this.updateOpen = true;
    return ok('weight update open');
  }

  async endWeightUpdate(): Promise<ControlResult> {
    this.calls.push(['endWeightUpdate', undefined]);
    if (!this.updateOpen) return fail('no weight update is open');
    this.updateOpen = false;
    return ok('weight update closed');
  }

  /** Stand-in model: every `model.*` name, any shape. */
  checkTensorHeaders(headers: readonly { name: string }[]): void {
    const unknown = headers.filter((h) => !h.name.startsWith('model.'));
    if (unknown.length > 0)
      throw new Error(
        `tensors: the model has no parameter ${unknown.map((h) => h.name).join(', ')}`,
      );
  }

  /** Stand-in tokenizer: one id per character (its code), 1 first as BOS. */
  async tokenize(text: string, addSpecialTokens = true): Promise<number[]> {
    if (text === 'refuse') throw new Error('text: unknown special token');
    return [...(addSpecialTokens ? [1] : []), ...[...text].map((c) => c.charCodeAt(0))];
  }

  detokenize(ids: readonly number[], skipSpecialTokens = false): string {
    return ids
      .filter((id) => !(skipSpecialTokens && id === 1))
      .map((id) => String.fromCharCode(id))
      .join('');
  }

  modelInfo(): ModelInfo {
    return {
      modelPath: 'builtin:tiny',
      architecture: 'LlamaForCausalLM',
      vocabSize: 512,
      maxContext: 256,
      dtype: 'f32',
      device: 'cpu',
      dpSize: 1,
      hasChatTemplate: this.hasChatTemplate,
      serving: {
        pageSize: 16,
        maxRunning: 32,
        maxBatchTokens: 2048,
        kvMemoryFraction: 0.3,
        maxTotalTokens: 4096,
        prefixCache: true,
        cudaGraphs: false,
      },
    };
  }

  async metrics(): Promise<EngineMetrics> {
    return {
      isSleeping: this.released.size > 0,
      residentBytesByTag: { weights: this.released.has('weights') ? 0 : 4096, kv_cache: 8192 },
      releaseSeconds: [0.012, 0.3],
      resumeSeconds: [0.4],
      waitingRequests: 2,
      runningRequests: 1,
      promptTokensTotal: 10,
      generatedTokensTotal: 30,
      requestsTotal: 4,
      abortedRequestsTotal: 1,
      forwardPassesTotal: 30,
      usedTokens: 96,
      totalTokens: 4096,
      ranks: [
        {
          rank: 0,
          runningRequests: 1,
          waitingRequests: 2,
          usedTokens: 96,
          totalTokens: 4096,
          generatedTokensTotal: this.generated,
          promptTokensTotal: 10,
          cachedTokensTotal: 4,
          maxRunningRequests: 32,
        },
      ],
    };
  }

  /** Ends every hanging request (with finish reason abort), as the engine's shutdown does. */
  async shutdown(): Promise<void> {
    this.calls.push(['shutdown', undefined]);
    for (const rid of [...this.hanging.keys()]) this.wakeHanging(rid);
  }
}

function ok(message: string): ControlResult {
  return { success: true, message };
}

function fail(message: string): ControlResult {
  return { success: false, message };
}

/** The `data:` payloads of an SSE body, in order; throws on anything that is not one. */
export function sseData(payload: string): string[] {
  if (!payload.endsWith('\n\n')) throw new Error(`SSE body not terminated: ${payload}`);
  return payload
    .split('\n\n')
    .filter((event) => event !== '')
    .map((event) => {
      if (!event.startsWith('data: ')) throw new Error(`not a data event: ${event}`);
      return event.slice(6);
    });
}
