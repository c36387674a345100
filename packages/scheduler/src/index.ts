export { PrefixCache } from './prefix-cache.js';
export type { LoopEvent, RankLoopOptions, SampledStep, StepExecutor } from './rank-loop.js';
export { RankLoop } from './rank-loop.js';
export type { SamplingParams } from './sampling-params.js';
export { DEFAULT_SAMPLING, samplingParams } from './sampling-params.js';
export type { SchedulerOptions, StepItem, TokenEvent, TopLogprobs } from './scheduler.js';
export { extraLogitRows, lastTokenScored, Scheduler } from './scheduler.js';
export type { FinishReason, SequenceStatus } from './sequence.js';
export { Sequence } from './sequence.js';
