import { EngineClientError, serverMessage } from './errors.js';
import { readSseData } from './sse-reader.js';
import type { ControlReply } from './wire.js';

export interface TransportOptions {
  /** e.g. `http://127.0.0.1:30000` */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <key>`. */
  apiKey?: string;
  /** Defaults to the global `fetch` (Node 18+ and browsers). */
  fetch?: typeof fetch;
}

type Method = 'GET' | 'POST';

/** fetch + JSON + SSE, with the server's message in every error. No Node-only API. */
export class Transport {
  private readonly baseUrl: string;
  private readonly fetchFn: typeof fetch;

  constructor(private readonly options: TransportOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    // Called through a wrapper: a bare `fetch` held in a field throws in browsers.
    this.fetchFn = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  /**
   * Sends a request (a `Uint8Array` body as bytes, anything else as JSON); a transport failure
   * throws `EngineClientError` with no status.
   */
  async send(method: Method, path: string, body?: unknown, signal?: AbortSignal) {
    const headers: Record<string, string> = {};
    let payload: string | Uint8Array<ArrayBuffer> | undefined;
    if (body instanceof Uint8Array) {
      headers['content-type'] = 'application/octet-stream';
      payload = body as Uint8Array<ArrayBuffer>;
    } else if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    if (this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey}`;
    try {
      return await this.fetchFn(`${this.baseUrl}${path}`, {
        method,
        headers,
        body: payload,
        signal,
      });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new EngineClientError(`${method} ${path}: ${reason}`, undefined, undefined, {
        cause: error,
      });
    }
  }

  /** A JSON reply, or `EngineClientError` with the server's message for an error status. */
  async json<T>(method: Method, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const response = await this.send(method, path, body, signal);
    const text = await response.text();
    const parsed = parseJson(text);
    if (!response.ok) throw replyError(method, path, response.status, text, parsed);
    if (parsed === undefined) {
      const excerpt = text.slice(0, 200);
      throw new EngineClientError(`${method} ${path}: not JSON: ${excerpt}`, response.status);
    }
    return parsed as T;
  }

  /** A plain-text reply (`/metrics`). */
  async text(path: string, signal?: AbortSignal): Promise<string> {
    const response = await this.send('GET', path, undefined, signal);
    const text = await response.text();
    if (!response.ok) throw replyError('GET', path, response.status, text, parseJson(text));
    return text;
  }

  /** A control call: never throws; a failure is `{ success: false, message }`. */
  async control<T>(method: Method, path: string, body?: unknown): Promise<T & ControlReply> {
    let response: Response;
    let text: string;
    try {
      response = await this.send(method, path, body);
      text = await response.text();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return { success: false, message } as T & ControlReply;
    }
    const parsed = text === '' ? {} : parseJson(text);
    if (parsed === undefined || typeof parsed !== 'object' || parsed === null) {
      const message = `${method} ${path}: HTTP ${response.status}: ${text.slice(0, 200)}`;
      return { success: false, message } as T & ControlReply;
    }
    const reply = parsed as Partial<ControlReply>;
    const success = response.ok && reply.success !== false;
    const message =
      serverMessage(reply) ?? (response.ok ? 'ok' : `${method} ${path}: HTTP ${response.status}`);
    return { ...reply, success, message } as T & ControlReply;
  }

  /**
   * POSTs and yields each Server-Sent Event's JSON until `data: [DONE]`. An error status, an
   * event carrying `error`, or a stream cut before `[DONE]` throws `EngineClientError`.
   */
  async *events<T>(path: string, body: unknown, signal?: AbortSignal): AsyncGenerator<T> {
    const response = await this.send('POST', path, body, signal);
    if (!response.ok || response.body === null) {
      const text = await response.text();
      throw replyError('POST', path, response.status, text, parseJson(text));
    }
    for await (const data of readSseData(response.body)) {
      if (data === '[DONE]') return;
      const event = parseJson(data);
      if (event === undefined) {
        throw new EngineClientError(`POST ${path}: bad event: ${data.slice(0, 200)}`, 200);
      }
      if (typeof event === 'object' && event !== null && 'error' in event) {
        const message = serverMessage(event) ?? `POST ${path}: stream error`;
        throw new EngineClientError(message, response.status, event);
      }
      yield event as T;
    }
    throw new EngineClientError(`POST ${path}: the stream ended before [DONE]`, response.status);
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function replyError(
  method: Method,
  path: string,
  status: number,
  text: string,
  parsed: unknown,
): EngineClientError {
  const message =
    serverMessage(parsed) ?? `${method} ${path}: HTTP ${status}: ${text.slice(0, 200)}`;
  return new EngineClientError(message, status, parsed ?? text);
}
