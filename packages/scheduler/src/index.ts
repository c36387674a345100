export type { FinishReason, SequenceStatus } from './sequence.js';
export { Sequence } from './sequence.js';
