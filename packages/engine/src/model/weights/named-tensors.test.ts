import { describe, expect, it } from 'vitest';
import { openBuiltinTiny } from '../builtin-tiny.js';
import { expectedLlamaTensors } from '../loader/llama-weights.js';
import { type NamedTensor, tensorSources } from './named-tensors.js';

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
