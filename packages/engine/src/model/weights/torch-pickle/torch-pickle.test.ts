import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PickleRefused, readPickle } from './pickle-machine.js';
import { type PickledTensor, pickledNamedTensors } from './serialized-named-tensors.js';
import { readSharedFileTensors, SHARED_FILE_HEADER_BYTES } from './shared-file-tensor.js';
import { type TensorRef, torchGlobals } from './torch-globals.js';

// Made by fixtures/make_torch_pickles.py (torch 2.13, CPU, the file_system sharing strategy).
const fixture = (name: string) =>
  Buffer.from(readFileSync(join(import.meta.dirname, 'fixtures', name), 'utf8').trim(), 'base64');
const read = (name: string) => readPickle(fixture(name), torchGlobals);

describe('the torch pickle reader', () => {
  it('reads named CPU tensors as shared-memory references, views and shared storages too', () => {
    const named = read('named-tensors.b64') as [string, TensorRef][];
    expect(named.map(([name, t]) => [name, t.dtype, t.shape, t.stride, t.offset])).toEqual([
      ['model.norm.weight', 'bfloat16', [4], [1], 0],
      ['lm_head.weight', 'float32', [3, 4], [4, 1], 0],
      ['model.layers.0.mlp.up_proj.weight', 'float16', [2, 4], [4, 1], 0],
      ['a.view', 'float32', [2, 4], [4, 1], 4],
    ]);
    const storages = named.map(([, t]) => t.storage);
    for (const s of storages) {
      expect(s.kind).toBe('shared-file');
      if (s.kind === 'shared-file') expect(s.name).toMatch(/^\/torch_\d+_\d+_\d+$/);
    }
    expect(storages.map((s) => s.bytes)).toEqual([8, 48, 16, 48]);
    // The view shares its base's storage: the pickle names it once.
    expect(storages[3]).toBe(storages[1]);
  });

  it('refuses a global off the allow-list without running it (REDUCE on os.system)', () => {
    expect(() => read('reduce-os-system.b64')).toThrow(
      new PickleRefused('pickle: the global posix.system is not allowed'),
    );
  });

  it('refuses tensors of other dtypes, old protocols and truncated data', () => {
    expect(() => read('int64-tensor.b64')).toThrow('the global torch.int64 is not allowed');
    expect(() => read('protocol-0.b64')).toThrow(PickleRefused);
    const whole = fixture('named-tensors.b64');
    for (const cut of [1, 10, 100, whole.length - 1])
      expect(() => readPickle(whole.subarray(0, cut), torchGlobals)).toThrow(PickleRefused);
  });

  it('refuses REDUCE on an allow-listed value, and garbage bytes', () => {
    // PROTO 4, SHORT_BINUNICODE 'torch', 'Tensor', STACK_GLOBAL, EMPTY_TUPLE, REDUCE, STOP
    const call = Buffer.from(
      '8004 8c05746f726368 8c0654656e736f72 93 29 52 2e'.replace(/ /g, ''),
      'hex',
    );
    expect(() => readPickle(call, torchGlobals)).toThrow('REDUCE of torch.Tensor is not allowed');
    expect(() => readPickle(Buffer.from('not a pickle'), torchGlobals)).toThrow(PickleRefused);
  });
});

describe('reading a tensor shared by file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ts-shm-'));
  const storage = { kind: 'shared-file' as const, name: '/torch_1_2_3', bytes: 48 };
  // A reference count in the header, as torch writes it, then the storage's 12 floats.
  const header = Buffer.alloc(SHARED_FILE_HEADER_BYTES);
  header.writeInt32LE(2, 0);
  const floats12 = Buffer.from(Float32Array.from({ length: 12 }, (_, i) => i).buffer);
  writeFileSync(join(dir, 'torch_1_2_3'), Buffer.concat([header, floats12]));
  const tensor = (byteOffset: number, byteLength: number): PickledTensor => ({
    name: 't',
    dtype: 'float32',
    shape: [byteLength / 4],
    storage,
    byteOffset,
    byteLength,
  });
  const floats = (bytes: Uint8Array) => [...new Float32Array(bytes.slice().buffer)];

  it('reads tensors at offsets of one storage into one shared buffer', async () => {
    const [whole, view] = await readSharedFileTensors([tensor(0, 48), tensor(16, 32)], dir);
    expect(floats(whole?.data as Uint8Array)).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(floats(view?.data as Uint8Array)).toEqual([4, 5, 6, 7, 8, 9, 10, 11]);
    expect(view?.data.buffer).toBeInstanceOf(SharedArrayBuffer);
  });

  it('refuses a tensor past the end of its object, a missing object, a CUDA tensor', async () => {
    await expect(readSharedFileTensors([tensor(16, 48)], dir)).rejects.toThrow('32 of 48 bytes');
    const gone = { ...tensor(0, 4), storage: { ...storage, name: '/torch_9_9_9' } };
    await expect(readSharedFileTensors([gone], dir)).rejects.toThrow('ENOENT');
    const cuda = { ...tensor(0, 4), storage: { kind: 'cuda-ipc' } } as PickledTensor;
    await expect(readSharedFileTensors([cuda], dir)).rejects.toThrow('is a CUDA tensor');
  });
});

describe('serialized named tensors (SGLang update_weights_from_tensor entries)', () => {
  const text = (name: string) =>
    readFileSync(join(import.meta.dirname, 'fixtures', name), 'utf8').trim();
  const summary = (entry: string, format: 'flattened_bucket' | null) =>
    pickledNamedTensors(entry, format).map((t) => [t.name, t.dtype, t.shape, t.byteLength]);
  const three = [
    ['model.norm.weight', 'bfloat16', [128], 256],
    ['model.layers.1.self_attn.k_proj.weight', 'float32', [64, 128], 32768],
    ['model.layers.0.input_layernorm.weight', 'float16', [128], 256],
  ];

  it('reads pairs, LocalSerializedTensor values and byte buckets alike', () => {
    expect(summary(text('update-pairs.b64'), null)).toEqual(three);
    expect(summary(text('update-per-rank.b64'), null)).toEqual(three);
    const bucket = pickledNamedTensors(text('update-bucket.b64'), 'flattened_bucket');
    expect(bucket.map((t) => [t.name, t.dtype, t.shape, t.byteLength])).toEqual(three);
    // One storage, the entries back to back.
    expect(new Set(bucket.map((t) => t.storage)).size).toBe(1);
    expect(bucket.map((t) => t.byteOffset)).toEqual([0, 256, 33024]);
  });

  it('reads an older float bucket in its own dtype, start and end in elements', () => {
    expect(summary(text('update-bucket-float.b64'), 'flattened_bucket')).toEqual([
      ['model.norm.weight', 'float32', [128], 512],
      ['model.layers.1.self_attn.k_proj.weight', 'float32', [64, 128], 32768],
      ['model.layers.0.input_layernorm.weight', 'float32', [128], 512],
    ]);
  });

  it('reads a CUDA tensor as its IPC handle, offsets and event', () => {
    const [t] = pickledNamedTensors(text('update-cuda-forged.b64'), null);
    expect(t?.storage).toEqual({
      kind: 'cuda-ipc',
      device: 0,
      handle: new Uint8Array(64).fill(1),
      bytes: 512,
      offsetBytes: 0,
      event: new Uint8Array(64).fill(2),
      refCounter: { name: '/torch_0_0', slot: 7 },
    });
  });

  it("reads torch's 64-byte handle bare or behind its version and 'c' bytes; refuses the rest", () => {
    const forged = Buffer.from(text('update-cuda-forged.b64'), 'base64');
    const versioned = Buffer.concat([Buffer.from([2, 0x63]), Buffer.alloc(64, 1)]);
    const at = forged.indexOf(versioned);
    expect(at).toBeGreaterThan(0);
    const withHandle = (head: number[]) => {
      const copy = Buffer.from(forged);
      copy.set(head, at);
      return pickledNamedTensors(copy.toString('base64'), null);
    };
    const handleOf = (head: number[]) =>
      (withHandle(head)[0]?.storage as { handle: Uint8Array } | undefined)?.handle;
    expect(handleOf([3, 0x63])).toEqual(new Uint8Array(64).fill(1));
    expect(() => withHandle([2, 0x65])).toThrow('expandable_segments');
    expect(() => withHandle([4, 0x63])).toThrow('version 4 of at most 3');
    expect(() => withHandle([2, 0x78])).toThrow("type 'c'");
  });

  it('refuses the wrong load_format, text that is not base64, and a uint8 tensor by name', () => {
    expect(() => pickledNamedTensors(text('update-pairs.b64'), 'flattened_bucket')).toThrow(
      'not a dict of flattened_tensor and metadata',
    );
    expect(() => pickledNamedTensors(text('update-bucket.b64'), null)).toThrow(
      'not a non-empty list of (name, tensor) pairs',
    );
    expect(() => pickledNamedTensors('a b', null)).toThrow('not base64 text');
    expect(() => pickledNamedTensors('', null)).toThrow('not base64 text');
  });
});

describe('the pickle machine on plain values', () => {
  const plain = [
    new Map<unknown, unknown>([
      ['a', 1],
      ['b', [true, false, null]],
    ]),
    300,
    70000,
    -5,
    2n ** 70n,
    1.5,
    'x'.repeat(300),
  ];
  const rest = [new Map(), ['t', 1]];

  it('reads protocol 5: memo, frames, long integers, floats, long strings and bytes', () => {
    expect(read('plain-values-protocol5.b64')).toEqual([
      ...plain,
      new Uint8Array(300).fill(0x79),
      ...rest,
    ]);
  });

  it('reads protocol 2: BINPUT, GLOBAL (OrderedDict), SETITEMS, APPENDS', () => {
    expect(read('plain-values-protocol2.b64')).toEqual([...plain, ...rest]);
  });
});
