import type { DecodeReference } from './decode-reference.js';
import { formatCount, formatRate } from './format.js';
import type { RolloutResult } from './rollout-run.js';

/** What the table's first columns name. */
export interface RolloutLabels {
  device: string;
  model: string;
  dtype: string;
  maxRunning: number;
}

/** The rollout's markdown table: its figures beside bench:decode's at its mean batch and context. */
export function rolloutTable(
  labels: RolloutLabels,
  r: RolloutResult,
  reference: DecodeReference,
): string[] {
  const cells = [
    labels.device,
    labels.model,
    labels.dtype,
    String(r.requests),
    String(labels.maxRunning),
    String(r.outputTokens),
    r.wallSeconds.toFixed(2),
    formatRate(r.outputTokensPerSecond),
    formatCount(r.meanBatch),
    formatCount(r.meanDecodeContext),
    r.stepMs.toFixed(2),
    r.forwardMs.toFixed(2),
    (r.forwardShare * 100).toFixed(1),
    formatRate(reference.tokensPerSecond),
    (r.outputTokensPerSecond / reference.tokensPerSecond).toFixed(2),
  ];
  const header = [
    'device',
    'model',
    'dtype',
    'requests',
    'max running',
    'output tokens',
    'wall s',
    'output tok/s',
    'mean batch',
    'mean decode context',
    'step ms',
    'forward ms',
    'in forward %',
    'decode tok/s at mean batch, context',
    'ours / decode',
  ];
  const row = (xs: readonly string[]) => `| ${xs.join(' | ')} |`;
  return [row(header), row(header.map(() => '---')), row(cells)];
}
