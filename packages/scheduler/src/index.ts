export { PrefixCache } from './prefix-cache.js';
export type {
  LaunchedStep,
  LoopEvent,
  OverlappedExecutor,
  RankLoopOptions,
  SampledStep,
  StepExecutor,
} from './rank-loop.js';
export { RankLoop } from './rank-loop.js';
export type { SamplingLimits, SamplingParams } from './sampling-params.js';
export {
  DEFAULT_MAX_NEW_TOKENS,
  DEFAULT_SAMPLING,
  MAX_SEED,
  MIN_SEED,
  samplingParams,
} from './sampling-params.js';
export type {
  AdvancedStep,
  SchedulerOptions,
  StepItem,
  TokenEvent,
  TopLogprobs,
} from './scheduler.js';
export { extraLogitRows, lastTokenScored, Scheduler } from './scheduler.js';
export type { FinishReason, SequenceStatus } from './sequence.js';
export { Sequence, UNKNOWN_TOKEN } from './sequence.js';
export type { StepStats } from './step-stats.js';
export { emptyStepStats } from './step-stats.js';
