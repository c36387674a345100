/** One request of a rollout: a prompt's sample, its output length fixed in advance. */
export interface RolloutRequest {
  rid: string;
  inputIds: number[];
  maxNewTokens: number;
  seed: number;
}

export interface RolloutShape {
  /** Distinct prompts, each sampled `samples` times (GRPO's group). */
  prompts: number;
  samples: number;
  /** Prompt lengths, drawn uniformly from [minPrompt, maxPrompt]. */
  minPrompt: number;
  maxPrompt: number;
  /** Output lengths: log-normal around `medianNewTokens` (sigma `lengthSigma`), cut at this. */
  maxNewTokens: number;
  medianNewTokens: number;
  lengthSigma: number;
  seed: number;
}

/** mulberry32: a seeded generator of uniform numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x100000000;
  };
}

/** A standard normal draw (Box-Muller) from uniform draws. */
function normal(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/**
 * A GRPO-shaped rollout: `prompts` prompts of random token ids in [0, vocabSize), lengths
 * uniform in [minPrompt, maxPrompt], each sampled `samples` times (rids `<prompt>-<sample>`);
 * each sample's output length log-normal around `medianNewTokens`, in [1, maxNewTokens].
 * The same shape and seed give the same requests.
 */
export function rolloutRequests(shape: RolloutShape, vocabSize: number): RolloutRequest[] {
  const random = seededRandom(shape.seed);
  const requests: RolloutRequest[] = [];
  for (let p = 0; p < shape.prompts; p++) {
    const span = shape.maxPrompt - shape.minPrompt + 1;
    const length = shape.minPrompt + Math.floor(random() * span);
    const inputIds = Array.from({ length }, () => Math.floor(random() * vocabSize));
    for (let s = 0; s < shape.samples; s++) {
      const drawn = shape.medianNewTokens * Math.exp(shape.lengthSigma * normal(random));
      requests.push({
        rid: `rollout-${p}-${s}`,
        inputIds,
        maxNewTokens: Math.min(shape.maxNewTokens, Math.max(1, Math.round(drawn))),
        seed: Math.floor(random() * 2 ** 31),
      });
    }
  }
  return requests;
}
