import { describe, expect, it } from 'vitest';
import { openBuiltinTiny } from '../builtin-tiny.js';
import { expectedLlamaTensors } from '../loader/llama-weights.js';
import { encodeSafetensors, testTensor } from '../loader/loader.test-helpers.js';
import { type NamedTensor, namedTensorsFromSafetensors, tensorSources } from './named-tensors.js';

const config = openBuiltinTiny().config;
const expected = expectedLlamaTensors(config);
const norm: NamedTensor = {
  name: 'model.norm.weight',
  dtype: 'float32',
  shape: [config.hiddenSize],
  data: new Uint8Array(config.hiddenSize * 4).fill(1),
};

describe('tensorSources', () => {
  it('turns checked tensors into sources that read their bytes, and tells a full set from a part', async () => {
    const part = tensorSources(expected, [norm]);
    expect(part.complete).toBe(false);
    const [source] = part.sources;
    expect(source).toMatchObject({
      name: norm.name,
      dtype: 'float32',
      byteLength: norm.data.byteLength,
    });
    const into = new Uint8Array(norm.data.byteLength);
    await source?.read(into);
    expect(into).toEqual(norm.data);
    const all = expected.required.map((t) => ({
      name: t.name,
      dtype: 'bfloat16' as const,
      shape: [...t.shape],
      data: new Uint8Array(t.shape.reduce((a, b) => a * b, 1) * 2),
    }));
    expect(tensorSources(expected, all).complete).toBe(true);
  });

  it('lists every problem at once and writes nothing', () => {
    const problems = [
      { ...norm, name: 'model.nrom.weight' },
      norm,
      norm,
      { ...norm, name: 'model.layers.0.input_layernorm.weight', shape: [3] },
      { ...norm, name: 'model.layers.1.input_layernorm.weight', dtype: 'toString' as never },
      { ...norm, name: 'model.layers.0.post_attention_layernorm.weight', data: [1, 2] as never },
      {
        ...norm,
        name: 'model.layers.1.post_attention_layernorm.weight',
        dtype: 'bfloat16' as const,
      },
    ];
    expect(() => tensorSources(expected, problems)).toThrow(
      new RegExp(
        [
          'no parameter model.nrom.weight',
          'model.norm.weight is given twice',
          'has shape \\[3\\], expected',
          'has dtype toString',
          'data must be a Uint8Array',
          'holds 512 bytes, \\[128\\] of bfloat16 is 256',
        ].join('.*'),
      ),
    );
    expect(() => tensorSources(expected, [])).toThrow(/at least one/);
    expect(() => tensorSources(expected, 'x' as never)).toThrow(/at least one/);
  });
});

describe('namedTensorsFromSafetensors', () => {
  it('reads every tensor of safetensors bytes as a named tensor viewing them', () => {
    const a = testTensor('a', [2, 3], 'bfloat16', 1);
    const b = testTensor('b', [4], 'float32', 2);
    const tensors = namedTensorsFromSafetensors(encodeSafetensors([a, b]), 'the body');
    expect(tensors.map(({ name, dtype, shape }) => ({ name, dtype, shape }))).toEqual([
      { name: 'a', dtype: 'bfloat16', shape: [2, 3] },
      { name: 'b', dtype: 'float32', shape: [4] },
    ]);
    expect(tensors[0]?.data).toEqual(a.data);
    expect(tensors[1]?.data).toEqual(b.data);
  });

  it('names the bytes and what is wrong with them', () => {
    expect(() => namedTensorsFromSafetensors(new Uint8Array(3), 'the body')).toThrow(
      'the body: too short for a safetensors header (3 bytes)',
    );
    const json = new TextEncoder().encode('{"text": "hello"}');
    expect(() => namedTensorsFromSafetensors(json, 'the body')).toThrow(/does not fit/);
    const cut = encodeSafetensors([testTensor('a', [64], 'float32')]).subarray(0, 100);
    expect(() => namedTensorsFromSafetensors(cut, 'the body')).toThrow(
      /the body: tensor a has data_offsets \[0, 256\] outside the data region/,
    );
  });
});
