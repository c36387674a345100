export { PauseController } from './pause-controller.js';
export type {
  ControlResult,
  DrainHandlers,
  LoopProbe,
  MemoryGate,
  PauseMode,
  PauseResult,
  PauseState,
} from './types.js';
