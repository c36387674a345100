import * as z from 'zod';
import type { NamedTensor } from '../model/weights/named-tensors.js';
import { releaseIpcRefCounters } from '../model/weights/torch-pickle/ipc-ref-counter.js';
import { PickleRefused } from '../model/weights/torch-pickle/pickle-machine.js';
import { pickledNamedTensors } from '../model/weights/torch-pickle/serialized-named-tensors.js';
import { readSharedFileTensors } from '../model/weights/torch-pickle/shared-file-tensor.js';
import { parseBody, RequestError } from './errors.js';

/** Tensor-parallel ranks this engine runs (issue 19 adds more): one entry each. */
const TP_SIZE = 1;

/** SGLang's UpdateWeightsFromTensorReqInput, over HTTP. */
export const serializedTensorsSchema = z.object(
  {
    serialized_named_tensors: z
      .array(z.string({ error: 'each entry is base64 text' }), {
        error: 'a list of serialized tensors, one per tensor-parallel rank',
      })
      .length(TP_SIZE, {
        error: `one entry per tensor-parallel rank: this engine runs ${TP_SIZE}`,
      }),
    load_format: z
      .literal('flattened_bucket', { error: "must be null or 'flattened_bucket'" })
      .nullish(),
    // The prefix cache is always reset after an update (KV of the old weights is never reused).
    flush_cache: z.boolean({ error: 'must be true or false' }).nullish(),
    abort_all_requests: z.boolean({ error: 'must be true or false' }).nullish(),
    weight_version: z
      .string({ error: 'must be a non-empty string' })
      .min(1, { error: 'must be a non-empty string' })
      .nullish(),
  },
  { error: 'expected a safetensors body, or JSON with serialized_named_tensors' },
);

export type SerializedTensorsBody = z.infer<typeof serializedTensorsSchema>;

/**
 * The named tensors of SGLang's JSON body, this rank's entry read with the allow-listed
 * unpickler: CPU tensors (torch's file_system sharing) are read from shared memory here, CUDA
 * tensors go to the ranks as their IPC handles. A pickle off the allow-list or a CPU tensor
 * that is not there answers 400 before anything reaches the engine. `done` tells the trainer
 * that its CUDA storages are read (call it once the update has ended, however it ended).
 */
export async function serializedNamedTensors(body: unknown): Promise<{
  parsed: SerializedTensorsBody;
  tensors: NamedTensor[];
  done: () => Promise<void>;
}> {
  const parsed = parseBody(serializedTensorsSchema, body);
  const entry = parsed.serialized_named_tensors[0] as string;
  try {
    const pickled = pickledNamedTensors(entry, parsed.load_format ?? null);
    const host = await readSharedFileTensors(
      pickled.filter((t) => t.storage.kind === 'shared-file'),
    );
    let next = 0;
    const tensors = pickled.map((t): NamedTensor => {
      if (t.storage.kind === 'shared-file') return host[next++] as NamedTensor;
      const { handle, event, offsetBytes } = t.storage;
      const ipc = { handle, event, offset: offsetBytes + t.byteOffset, byteLength: t.byteLength };
      return { name: t.name, dtype: t.dtype, shape: t.shape, ipc };
    });
    const storages = new Set(pickled.map((t) => t.storage));
    const counters = [...storages].flatMap((s) => (s.kind === 'cuda-ipc' ? [s.refCounter] : []));
    return { parsed, tensors, done: () => releaseIpcRefCounters(counters) };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const why = error instanceof PickleRefused ? message : `a tensor could not be read: ${message}`;
    throw new RequestError(400, `update_weights_from_tensor: ${why}`);
  }
}
