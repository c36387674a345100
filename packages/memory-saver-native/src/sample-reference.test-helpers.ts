// The sampling rule of native/src/kernels/sampling.h in double precision, to predict tokens.
const MASK64 = (1n << 64n) - 1n;

export function splitmix64(key: bigint): bigint {
  let z = (key + 0x9e3779b97f4a7c15n) & MASK64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

export function uniformFromKey(key: bigint): number {
  return Number(splitmix64(key) >> 40n) / 2 ** 24;
}

export interface SampleParams {
  temperature: number;
  topK: number;
  topP: number;
}

/** Kept token ids (ascending) and their probabilities under softmax(logits / temperature). */
export function keptTokens(
  logits: Float32Array,
  p: SampleParams,
): { ids: number[]; probs: number[] } {
  const max = logits.reduce((a, b) => Math.max(a, b), Number.NEGATIVE_INFINITY);
  const weights = Array.from(logits, (x) => Math.exp((x - max) / p.temperature));
  const total = weights.reduce((sum, w) => sum + w, 0);
  const ranked = weights.map((_, i) => i);
  ranked.sort((x, y) => (logits[y] as number) - (logits[x] as number) || x - y);
  const ids: number[] = [];
  let before = 0;
  ranked.forEach((id, rank) => {
    const keep =
      rank === 0 || ((p.topK <= 0 || rank < p.topK) && (p.topP >= 1 || before < p.topP * total));
    if (keep && ids.length === rank) ids.push(id);
    before += weights[id] as number;
  });
  ids.sort((x, y) => x - y);
  return { ids, probs: ids.map((id) => (weights[id] as number) / total) };
}

/** The token the draw of `key` picks, and how far the draw is from the nearest boundary. */
export function sampleReference(logits: Float32Array, p: SampleParams, key: bigint) {
  return drawReference(keptTokens(logits, p), key);
}

/** The draw of `key` over kept tokens (as `keptTokens` returns them). */
export function drawReference({ ids, probs }: { ids: number[]; probs: number[] }, key: bigint) {
  const mass = probs.reduce((sum, x) => sum + x, 0);
  const target = uniformFromKey(key) * mass;
  let running = 0;
  let margin = Number.POSITIVE_INFINITY;
  let token = ids[ids.length - 1] as number;
  for (let i = 0; i < ids.length; i++) {
    const next = running + (probs[i] as number);
    margin = Math.min(margin, Math.abs(next - target));
    if (next > target) {
      token = ids[i] as number;
      break;
    }
    running = next;
  }
  return { token, margin: margin / mass };
}

/** Where `token` sits in the draw: its share [start, end) of [0, 1) in ascending id; null if dropped. */
export function drawInterval({ ids, probs }: { ids: number[]; probs: number[] }, token: number) {
  const mass = probs.reduce((sum, x) => sum + x, 0);
  let start = 0;
  for (let i = 0; i < ids.length; i++) {
    const end = start + (probs[i] as number) / mass;
    if (ids[i] === token) return { start, end };
    start = end;
  }
  return null;
}
