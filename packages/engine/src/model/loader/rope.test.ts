import { describe, expect, it } from 'vitest';
import { inverseFrequencies, type RopeScaling } from './rope.js';

const llama3: RopeScaling = {
  type: 'llama3',
  factor: 8,
  lowFreqFactor: 1,
  highFreqFactor: 4,
  originalMaxPositionEmbeddings: 8192,
};

// Computed with numpy in float32 following transformers' _compute_default_rope_parameters and
// _compute_llama3_parameters (theta 500000, head_dim 128, Llama 3.1's rope_scaling).
const REFERENCE: [index: number, plain: number, scaled: number][] = [
  [0, 1.0, 1.0],
  [1, 0.8146172165870667, 0.8146172165870667],
  [20, 0.016560440883040428, 0.016560440883040428],
  [30, 0.002131119603291154, 0.0013718936825171113],
  [40, 0.00027424818836152554, 3.428102354519069e-5],
  [44, 0.00012076974235242233, 1.5096217794052791e-5],
  [45, 9.838111145654693e-5, 1.2297638932068367e-5],
  [50, 3.529227615217678e-5, 4.411534519022098e-6],
  [63, 2.4551407022954663e-6, 3.068925877869333e-7],
];

describe('inverseFrequencies', () => {
  it('is theta^(-2i/d) without scaling', () => {
    const inv = inverseFrequencies({ headDim: 8, ropeTheta: 10000, ropeScaling: { type: 'none' } });
    expect(inv).toHaveLength(4);
    for (let i = 0; i < 4; i++) expect(inv[i]).toBeCloseTo(10000 ** (-(2 * i) / 8), 7);
  });

  it('matches transformers for Llama 3.1 scaling', () => {
    const plain = inverseFrequencies({
      headDim: 128,
      ropeTheta: 500000,
      ropeScaling: { type: 'none' },
    });
    const scaled = inverseFrequencies({ headDim: 128, ropeTheta: 500000, ropeScaling: llama3 });
    for (const [i, expectedPlain, expectedScaled] of REFERENCE) {
      expect(Math.abs((plain[i] as number) / expectedPlain - 1)).toBeLessThan(2e-7);
      expect(Math.abs((scaled[i] as number) / expectedScaled - 1)).toBeLessThan(2e-7);
    }
  });

  it('keeps high frequencies, divides low ones by the factor, smooths between', () => {
    const plain = inverseFrequencies({
      headDim: 128,
      ropeTheta: 500000,
      ropeScaling: { type: 'none' },
    });
    const scaled = inverseFrequencies({ headDim: 128, ropeTheta: 500000, ropeScaling: llama3 });
    for (let i = 0; i < 64; i++) {
      const p = plain[i] as number;
      const s = scaled[i] as number;
      const wavelen = (2 * Math.PI) / p;
      if (wavelen < 2048) expect(s).toBe(p);
      else if (wavelen > 8192) expect(s).toBe(Math.fround(p / 8));
      else expect(s > p / 8 && s < p).toBe(true);
    }
  });

  it('divides every frequency by the linear factor', () => {
    const plain = inverseFrequencies({
      headDim: 16,
      ropeTheta: 10000,
      ropeScaling: { type: 'none' },
    });
    const linear = inverseFrequencies({
      headDim: 16,
      ropeTheta: 10000,
      ropeScaling: { type: 'linear', factor: 4 },
    });
    for (let i = 0; i < 8; i++) expect(linear[i]).toBe(Math.fround((plain[i] as number) / 4));
  });
});
