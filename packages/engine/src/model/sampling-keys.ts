const MASK = (1n << 64n) - 1n;

/** splitmix64's finaliser over 64-bit BigInts. */
function mix(x: bigint): bigint {
  let z = x & MASK;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK;
  return z ^ (z >> 31n);
}

/** The random key of the `index`-th sampled token of a request seeded with `seed`. */
export function samplingKey(seed: bigint, index: number): bigint {
  return mix((seed & MASK) ^ mix(BigInt(index) * 0x9e3779b97f4a7c15n));
}
