import type { MessagePort } from 'node:worker_threads';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { loadModelTokenizer } from './model-tokenizer.js';

/** A text for the tokenizer thread to encode. */
export interface EncodeRequest {
  id: number;
  text: string;
  addSpecialTokens: boolean;
}

/** Its token ids (moved, not copied), or why encoding failed. */
export type EncodeReply = { id: number; ids: Uint32Array } | { id: number; error: string };

/** The side of a port the service answers on (a worker's parentPort, or a MessageChannel's). */
type ServicePort = Pick<MessagePort, 'on' | 'postMessage'>;

/** One request's reply: `tokenizer.encode` exactly, or its error's message. */
export function encodeReply(tokenizer: Tokenizer | null, request: EncodeRequest): EncodeReply {
  try {
    if (!tokenizer) throw new Error('this model has no tokenizer');
    const ids = tokenizer.encode(request.text, { addSpecialTokens: request.addSpecialTokens });
    return { id: request.id, ids: Uint32Array.from(ids) };
  } catch (error) {
    return { id: request.id, error: error instanceof Error ? error.message : String(error) };
  }
}

/**
 * Answers encode requests on `port` with the tokenizer of `model`, loaded as the engine loads
 * its own (`loadModelTokenizer`), so the ids are the same. Requests are answered in order,
 * each whole; a tokenizer that fails to load answers each request with that failure.
 */
export function serveTokenizer(port: ServicePort, model: string): void {
  const loaded = loadModelTokenizer(model).then(
    (m) => ({ tokenizer: m.tokenizer, failure: null }),
    (error: unknown) => ({
      tokenizer: null,
      failure: `the tokenizer thread cannot load ${model}: ${String(error)}`,
    }),
  );
  port.on('message', (request: EncodeRequest) => {
    void loaded.then(({ tokenizer, failure }) => {
      const reply: EncodeReply = failure
        ? { id: request.id, error: failure }
        : encodeReply(tokenizer, request);
      port.postMessage(reply, 'ids' in reply ? [reply.ids.buffer as ArrayBuffer] : []);
    });
  });
}
