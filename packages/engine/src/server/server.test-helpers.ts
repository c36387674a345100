import type {
  ChatMessageInput,
  EngineApi,
  GenerateChunk,
  GenerateInput,
  GenerateOutput,
  ModelInfo,
  RequestOptions,
} from '../engine-api.js';
import { resolveSwitches } from '../protocol/switches.js';

/**
 * A small in-test `EngineApi` for the chat route's tests only (openai.test.ts): `builtin:tiny`
 * has no chat template, so the real engine refuses chat there. Word `w<i>` is token `100 + i`;
 * the template renders `<role>content`. Every other HTTP test runs against the real `Engine`
 * on builtin:tiny (tiny-engine.test-helpers.ts); the calls chat does not make throw here.
 */
export class FakeEngine implements EngineApi {
  readonly calls: Array<[string, unknown]> = [];
  hasChatTemplate = true;

  async generate(input: GenerateInput, options: RequestOptions = {}): Promise<GenerateOutput> {
    let last: GenerateOutput | undefined;
    for await (const chunk of this.generateStream(input, options)) last = chunk;
    return last as GenerateOutput;
  }

  async *generateStream(
    input: GenerateInput,
    _options?: RequestOptions,
  ): AsyncGenerator<GenerateChunk> {
    this.calls.push(['generate', input]);
    const rid = input.rid ?? 'generated';
    const n = input.samplingParams?.maxNewTokens ?? 3;
    const ids: number[] = [];
    for (let i = 0; i < n; i++) {
      ids.push(100 + i);
      yield this.output(rid, input, ids, i === n - 1 ? { type: 'length' } : null);
    }
  }

  private output(
    rid: string,
    input: GenerateInput,
    ids: number[],
    finishReason: GenerateOutput['metaInfo']['finishReason'],
  ): GenerateOutput {
    const text = (id: number) => (input.returnTextInLogprobs ? `w${id - 100}` : null);
    return {
      text: ids.map((id) => `w${id - 100}`).join(' '),
      outputIds: [...ids],
      metaInfo: {
        id: rid,
        promptTokens: input.inputIds?.length ?? input.text?.length ?? 0,
        cachedTokens: 0,
        completionTokens: ids.length,
        finishReason,
        e2eLatency: 0,
        weightVersion: 'default',
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
        // A stand-in logprob per id: -(its position + 1) / 4; its text is its word.
        ...(input.returnLogprob
          ? {
              outputTokenLogprobs: ids.map((id, i): [number, number, string | null] => [
                -(i + 1) / 4,
                id,
                text(id),
              ]),
            }
          : {}),
      },
    };
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

  weightVersion(): string {
    return 'default';
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
      tpSize: 1,
      hasChatTemplate: this.hasChatTemplate,
      serving: {
        pageSize: 16,
        maxRunning: 32,
        maxBatchTokens: 2048,
        kvMemoryFraction: 0.3,
        maxTotalTokens: 4096,
        switches: { ...resolveSwitches({}), cudaGraphs: false },
      },
    };
  }

  async shutdown(): Promise<void> {}

  // Calls the chat route does not make: run them against the real engine instead.
  abortAllRequests = notHere;
  abortRequest = notHere;
  updateWeightVersion = notHere;
  releaseMemoryOccupation = notHere;
  resumeMemoryOccupation = notHere;
  isSleeping = notHere;
  pauseGeneration = notHere;
  continueGeneration = notHere;
  flushCache = notHere;
  updateWeightsFromDisk = notHere;
  updateWeightsFromTensors = notHere;
  beginWeightUpdate = notHere;
  endWeightUpdate = notHere;
  checkTensorHeaders = notHereSync;
  tokenize = notHere;
  detokenize = notHereSync;
  metrics = notHere;
}

async function notHere(): Promise<never> {
  throw new Error('not in FakeEngine: test this against the real engine (launchTiny)');
}

function notHereSync(): never {
  throw new Error('not in FakeEngine: test this against the real engine (launchTiny)');
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
