import type {
  ControlReply,
  IsSleepingReply,
  MemoryOccupationRequest,
  PauseGenerationRequest,
  ReleaseMemoryReply,
  ResumeMemoryReply,
} from './wire.js';

export interface EngineClientOptions {
  /** e.g. `http://127.0.0.1:30000` */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <key>` to the control endpoints. */
  apiKey?: string;
  fetch?: typeof fetch;
}

/**
 * A typed client of the engine's HTTP API. Control calls never throw: a transport failure
 * or an error status comes back as `{ success: false, message }` with the server's message.
 */
export class EngineClient {
  private readonly baseUrl: string;
  private readonly fetchFn: typeof fetch;

  constructor(private readonly options: EngineClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.fetchFn = options.fetch ?? globalThis.fetch;
  }

  releaseMemoryOccupation(body: MemoryOccupationRequest = {}): Promise<ReleaseMemoryReply> {
    return this.control('POST', '/release_memory_occupation', body);
  }

  resumeMemoryOccupation(body: MemoryOccupationRequest = {}): Promise<ResumeMemoryReply> {
    return this.control('POST', '/resume_memory_occupation', body);
  }

  async isSleeping(): Promise<IsSleepingReply & ControlReply> {
    return this.control('GET', '/is_sleeping');
  }

  pauseGeneration(body: PauseGenerationRequest = {}): Promise<ControlReply> {
    return this.control('POST', '/pause_generation', body);
  }

  continueGeneration(): Promise<ControlReply> {
    return this.control('POST', '/continue_generation', {});
  }

  flushCache(): Promise<ControlReply> {
    return this.control('POST', '/flush_cache', {});
  }

  health(): Promise<ControlReply> {
    return this.control('GET', '/health');
  }

  private async control<T>(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
  ): Promise<T & ControlReply> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey}`;
    let response: Response;
    try {
      response = await this.fetchFn(`${this.baseUrl}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      return failure(
        `${method} ${path}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? {} : JSON.parse(text);
    } catch {
      return failure(`${method} ${path}: HTTP ${response.status}: ${text.slice(0, 200)}`);
    }
    const reply = (
      typeof parsed === 'object' && parsed !== null ? parsed : {}
    ) as Partial<ControlReply>;
    const success = response.ok && reply.success !== false;
    const message = reply.message ?? (response.ok ? 'ok' : `HTTP ${response.status}`);
    return { ...reply, success, message } as T & ControlReply;
  }
}

function failure<T>(message: string): T & ControlReply {
  return { success: false, message } as T & ControlReply;
}
