import { describe, expect, it } from 'vitest';
import { RequestState } from './request-state.js';

async function nextIds(updates: AsyncIterator<{ outputIds: number[] }>): Promise<number[]> {
  const step = await updates.next();
  if (step.done) throw new Error('the stream ended');
  return step.value.outputIds;
}

describe('RequestState', () => {
  it('streams every token as it comes, also for a model without a tokenizer', async () => {
    const state = new RequestState('r', 3, null, [], true);
    const updates = state.updates()[Symbol.asyncIterator]();
    expect(await nextIds(updates)).toEqual([]);
    const first = nextIds(updates);
    state.push(7);
    expect(await first).toEqual([7]);
    const second = nextIds(updates);
    state.push(9);
    expect(await second).toEqual([7, 9]);
    state.end('length');
    expect((await updates.next()).value?.metaInfo.finishReason).toEqual({ type: 'length' });
  });
});
