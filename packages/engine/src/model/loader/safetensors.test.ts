import { truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  encodeSafetensors,
  type TestTensor,
  testTensor,
  withTempDir,
  writeSafetensors,
} from './loader.test-helpers.js';
import { openSafetensorsFile, parseSafetensorsHeader } from './safetensors.js';
import { READ_CHUNK_BYTES } from './tensor-source.js';

const tensors: TestTensor[] = [
  testTensor('a', [2, 3], 'float32', 1),
  testTensor('b', [4], 'bfloat16', 2),
  testTensor('c', [3, 1], 'float16', 3),
];

async function expectOpenFails(bytes: Uint8Array, message: string): Promise<void> {
  await withTempDir(async (dir) => {
    const path = join(dir, 'x.safetensors');
    await writeFile(path, bytes);
    await expect(openSafetensorsFile(path)).rejects.toThrow(`${path}: ${message}`);
  });
}

function withHeader(header: unknown, dataBytes = 0): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

describe('openSafetensorsFile', () => {
  it('lists tensors with dtype, shape and size, and reads their bytes', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'model.safetensors');
      await writeFile(path, encodeSafetensors(tensors, { format: 'pt' }));
      const file = await openSafetensorsFile(path);
      expect(file.metadata).toEqual({ format: 'pt' });
      expect(file.tensors.map((t) => [t.name, t.dtype, t.shape, t.byteLength])).toEqual([
        ['a', 'float32', [2, 3], 24],
        ['b', 'bfloat16', [4], 8],
        ['c', 'float16', [3, 1], 6],
      ]);
      for (const [i, tensor] of file.tensors.entries()) {
        const into = new Uint8Array(tensor.byteLength);
        await tensor.read(into);
        expect(into).toEqual(tensors[i]?.data);
      }
      await expect(file.tensors[0]?.read(new Uint8Array(4))).rejects.toThrow(
        'tensor a: read needs a buffer of 24 bytes, got 4',
      );
      await file.close();
      await file.close();
      await expect(file.tensors[0]?.read(new Uint8Array(24))).rejects.toThrow('file is closed');
    });
  });

  it('reads a tensor larger than one read chunk', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'big.safetensors');
      const big = testTensor('big', [READ_CHUNK_BYTES / 4 + 5], 'float32', 9);
      await writeSafetensors(path, [big]);
      const file = await openSafetensorsFile(path);
      const into = new Uint8Array(big.data.byteLength);
      await file.tensors[0]?.read(into);
      expect(Buffer.from(into).equals(Buffer.from(big.data))).toBe(true);
      await file.close();
    });
  });

  it('fails naming file and tensor when the file shrinks after opening', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'model.safetensors');
      await writeSafetensors(path, tensors);
      const file = await openSafetensorsFile(path);
      const bytes = encodeSafetensors(tensors);
      await truncate(path, bytes.byteLength - 3);
      await expect(file.tensors[2]?.read(new Uint8Array(6))).rejects.toThrow(
        `${path}: tensor c is truncated: needed 6 bytes`,
      );
      await file.close();
    });
  });
});

describe('openSafetensorsFile failures', () => {
  it('rejects a truncated file: data_offsets past the data region', async () => {
    const bytes = encodeSafetensors(tensors);
    await expectOpenFails(
      bytes.subarray(0, bytes.byteLength - 2),
      'tensor c has data_offsets [32, 38] outside',
    );
  });

  it('rejects an unsupported dtype, naming tensor and dtype', async () => {
    const int8: TestTensor = { name: 'q', dtype: 'I8', shape: [4], data: new Uint8Array(4) };
    await expectOpenFails(
      encodeSafetensors([int8]),
      'tensor q has unsupported dtype I8 (supported: F32, BF16, F16)',
    );
  });

  it('rejects a size that does not match shape x dtype', async () => {
    const wrong: TestTensor = { name: 'w', dtype: 'F32', shape: [3], data: new Uint8Array(8) };
    await expectOpenFails(
      encodeSafetensors([wrong]),
      'tensor w spans 8 bytes but F32 [3] needs 12',
    );
  });

  it('rejects a header that does not fit or does not parse', async () => {
    await expectOpenFails(new Uint8Array(5), 'too short for a safetensors header (5 bytes)');
    const long = withHeader({});
    new DataView(long.buffer).setBigUint64(0, 1000n, true);
    await expectOpenFails(long, 'its header length does not fit in the file');
    const garbled = withHeader({});
    garbled[8] = 0x7a;
    await expectOpenFails(garbled, 'header is not valid JSON');
  });

  it('rejects malformed entries', async () => {
    await expectOpenFails(withHeader({ t: 1 }), 'tensor t has no header entry object');
    await expectOpenFails(
      withHeader({ t: { shape: [1], data_offsets: [0, 4] } }, 4),
      'tensor t has no dtype',
    );
    await expectOpenFails(
      withHeader({ t: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4),
      'tensor t has an invalid shape',
    );
    await expectOpenFails(
      withHeader({ t: { dtype: 'F32', shape: [1], data_offsets: [4] } }, 4),
      'tensor t has invalid data_offsets',
    );
    await expectOpenFails(
      withHeader({ __metadata__: { n: 1 } }),
      '__metadata__ must map strings to strings',
    );
  });
});

describe('parseSafetensorsHeader', () => {
  it('requires an object', () => {
    expect(() => parseSafetensorsHeader('p', [], 0)).toThrow('p: header is not a JSON object');
  });

  it('rejects reversed offsets', () => {
    const header = { t: { dtype: 'F16', shape: [0], data_offsets: [4, 2] } };
    expect(() => parseSafetensorsHeader('p', header, 8)).toThrow('data_offsets [4, 2] outside');
  });

  it('accepts empty tensors', () => {
    const header = { t: { dtype: 'F16', shape: [0, 3], data_offsets: [0, 0] } };
    expect(parseSafetensorsHeader('p', header, 0).entries).toHaveLength(1);
  });
});
