import { describe, expect, it } from 'vitest';
import { servingDtype } from './serving-dtype.js';

describe('servingDtype', () => {
  it('auto takes the checkpoint dtype on a GPU, float32 as bfloat16', () => {
    expect(servingDtype('auto', 'bfloat16', 'cuda')).toBe('bfloat16');
    expect(servingDtype('auto', 'float16', 'cuda')).toBe('float16');
    expect(servingDtype('auto', 'float32', 'cuda')).toBe('bfloat16');
    expect(servingDtype('auto', null, 'cuda')).toBe('bfloat16');
  });

  it('auto is float32 on the CPU, whatever the checkpoint holds', () => {
    expect(servingDtype('auto', 'bfloat16', 'cpu')).toBe('float32');
    expect(servingDtype('auto', null, 'cpu')).toBe('float32');
  });

  it('an explicit dtype is kept on either device', () => {
    expect(servingDtype('float32', 'bfloat16', 'cuda')).toBe('float32');
    expect(servingDtype('bfloat16', 'float32', 'cpu')).toBe('bfloat16');
  });
});
