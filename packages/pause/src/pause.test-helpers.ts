import { PauseController } from './pause-controller.js';
import type { DrainHandlers } from './types.js';

/** A pause controller over a loop the test drives by hand. */
export function setup(running = 0) {
  const loop = { running, forward: false };
  const pause = new PauseController({
    runningRequests: () => loop.running,
    forwardInFlight: () => loop.forward,
  });
  return { loop, pause };
}

/** Drain handlers that count what they were told. */
export function handlers(): DrainHandlers & { drained: number; cancelled: string[] } {
  const h = {
    drained: 0,
    cancelled: [] as string[],
    onDrained: () => {
      h.drained += 1;
    },
    onCancelled: (reason: string) => {
      h.cancelled.push(reason);
    },
  };
  return h;
}

/** What the controller lets the loop do now: its state, admission, a forward pass. */
export function gates(pause: PauseController) {
  return { state: pause.state, admit: pause.mayAdmit(), forward: pause.mayRunForward() };
}

/** A user `wait` drain and a release drain, both pending on the forward pass in flight. */
export function userAndReleaseDraining() {
  const { loop, pause } = setup(1);
  const gate = pause.claimMemoryGate();
  const user = handlers();
  const release = handlers();
  loop.forward = true;
  pause.pause('wait', user);
  gate.drainForRelease(release);
  return { loop, pause, gate, user, release };
}
