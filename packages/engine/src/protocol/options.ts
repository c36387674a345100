// The engine's options, as the main thread resolves them and each rank's worker receives them.
import type { DtypeChoice } from '../model/serving-dtype.js';
import type { NumberOptionName, NumberOptions } from './number-options.js';
import type { Switches } from './switches.js';

export const DEVICE_CHOICES = ['auto', 'cuda', 'cpu'] as const;
export type DeviceChoice = (typeof DEVICE_CHOICES)[number];

/**
 * Launch options; the on/off ones are declared in switches.ts, the numeric ones in
 * number-options.ts.
 */
export interface LaunchOptions
  extends Partial<Switches>,
    Partial<Record<NumberOptionName, number>> {
  /** A Hugging Face model directory, a llama2.c `.bin`, or `builtin:tiny`. */
  model: string;
  device?: DeviceChoice;
  /** GPU of rank r: `gpuIds[r]`; by default GPU r mod the number of GPUs (several ranks share one when fewer). */
  gpuIds?: number[];
  /** The compute dtype; `auto` (default): the checkpoint's on a GPU (bfloat16 for float32), float32 on the CPU. */
  dtype?: DtypeChoice;
  /** Load progress, per rank. */
  onProgress?(rank: number, loadedBytes: number, totalBytes: number): void;
  /** For tests: failures injected into the real memory saver of one rank. */
  testFaults?: TestFaults;
}

/**
 * Failures a test injects into one rank (named by its data-parallel and tensor-parallel rank).
 * `failMapAfter`: its saver's physical-map call after `successes` more successful ones fails
 * once, as an out-of-memory would (`@ts/memory-saver-native/testing`), counted from when the
 * rank is ready. `exitAfterSteps`: a TP peer's worker exits, as a crash would, once it has run
 * `steps` forward passes (0: as soon as it has built its pool and runner).
 * `failWeightUpdates`: its next `count` weight updates fail before anything is written, as a
 * fault of that rank alone would (a handle its GPU cannot open).
 */
export interface TestFaults {
  failMapAfter?: { dpRank: number; tpRank: number; successes: number };
  exitAfterSteps?: { dpRank: number; tpRank: number; steps: number };
  failWeightUpdates?: { dpRank: number; count: number };
}

export type ResolvedOptions = Required<
  Omit<LaunchOptions, 'onProgress' | 'gpuIds' | 'testFaults' | NumberOptionName>
> &
  NumberOptions & {
    testFaults: TestFaults;
    gpuIds: number[];
  };
