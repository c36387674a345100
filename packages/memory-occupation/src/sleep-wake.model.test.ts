import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { flush, harness } from './harness.test-helpers.js';
import { DEFAULT_TAGS } from './memory-tags.js';
import type { ReleaseReply } from './types.js';

const TAGS: string[] = [...DEFAULT_TAGS];
const tagList = fc.option(fc.subarray([...TAGS, 'bogus']), { nil: undefined });

const action = fc.oneof(
  fc.record({ kind: fc.constant('release' as const), tags: tagList }),
  fc.record({ kind: fc.constant('resume' as const), tags: tagList }),
  fc.record({
    kind: fc.constant('pause' as const),
    mode: fc.constantFrom('abort', 'wait', 'keep', 'in_place', 'retract'),
  }),
  fc.record({ kind: fc.constant('continue' as const) }),
  fc.record({ kind: fc.constant('forward' as const), running: fc.nat(3) }),
  fc.record({ kind: fc.constant('finishForward' as const) }),
  fc.record({ kind: fc.constant('drainComplete' as const) }),
  fc.record({ kind: fc.constant('failNextResume' as const), tag: fc.constantFrom(...TAGS) }),
);

type Action = typeof action extends fc.Arbitrary<infer A> ? A : never;

/** The reference model: which tags are released, and the user's own pause. */
interface Model {
  released: Set<string>;
  userMode: string | null;
}

describe('sleep/wake model-based test', () => {
  it('holds every invariant over random sequences of control calls and loop steps', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(action, { maxLength: 40 }), async (actions) => {
        const h = harness();
        const model: Model = { released: new Set(), userMode: null };
        let pendingRelease: Promise<ReleaseReply> | null = null;
        let pendingTags: string[] = [];

        const snapshot = () => ({
          released: h.memory.releasedTags,
          paused: h.saver.pausedTags(),
          mode: h.pause.userPauseMode,
          state: h.pause.state,
        });

        const settleRelease = async () => {
          if (!pendingRelease) return;
          const reply = await Promise.race([pendingRelease, flush().then(() => null)]);
          if (!reply) return;
          pendingRelease = null;
          if (reply.success) for (const t of pendingTags) model.released.add(t);
        };

        for (const a of actions as Action[]) {
          const before = snapshot();
          switch (a.kind) {
            case 'release': {
              const started = h.memory.release(a.tags);
              const early = await Promise.race([started, flush().then(() => null)]);
              if (early === null) {
                expect(pendingRelease).toBeNull();
                pendingRelease = started;
                pendingTags = a.tags ? TAGS.filter((t) => a.tags?.includes(t)) : TAGS;
              } else if (early.success) {
                for (const t of a.tags ?? TAGS) model.released.add(t);
              } else {
                expect(snapshot()).toEqual(before);
              }
              break;
            }
            case 'resume': {
              const reply = await h.memory.resume(a.tags);
              if (reply.success) for (const t of reply.resumedTags) model.released.delete(t);
              else expect(snapshot()).toEqual(before);
              break;
            }
            case 'pause':
              h.pause.pause(a.mode);
              model.userMode = a.mode;
              break;
            case 'continue': {
              // Rule 6: always succeeds and clears the user pause; memory keeps the loop still.
              const reply = h.pause.resume();
              expect(reply.success).toBe(true);
              model.userMode = null;
              const blocked = model.released.size > 0 || pendingRelease !== null;
              if (blocked) expect(reply.message).toMatch(/still released|release is in progress/);
              else expect(reply.message).toMatch(/^(continued|already running)$/);
              const after = snapshot();
              expect([after.released, after.paused]).toEqual([before.released, before.paused]);
              break;
            }
            case 'forward':
              if (h.pause.mayRunForward()) {
                expect(h.saver.pausedTags()).toEqual([]);
                expect(() => h.saver.view('weights')).not.toThrow();
                h.loop.forward = true;
                h.loop.running = a.running;
              }
              break;
            case 'finishForward':
              h.loop.forward = false;
              break;
            case 'drainComplete':
              h.pause.tick();
              break;
            case 'failNextResume':
              h.saver.failNext('resume', a.tag);
              break;
          }
          await settleRelease();

          expect(h.memory.releasedTags).toEqual(TAGS.filter((t) => model.released.has(t)));
          expect(h.saver.pausedTags()).toEqual([...model.released].sort());
          expect(h.pause.userPauseMode).toBe(model.userMode);
          if (model.released.size > 0 || pendingRelease)
            expect(h.pause.mayRunForward()).toBe(false);
          // Awake and not paused by the user (never paused, or continued, also while asleep).
          else if (model.userMode === null) expect(h.pause.state).toBe('running');
          if (model.userMode !== null && model.userMode !== 'wait')
            expect(h.pause.mayRunForward()).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });
});
