import { describe, expect, it } from 'vitest';
import { ByteTokenizer } from '../tokenizer/byte-tokenizer.js';
import { RequestState } from './request-state.js';

async function nextIds(updates: AsyncIterator<{ outputIds: number[] }>): Promise<number[]> {
  const step = await updates.next();
  if (step.done) throw new Error('the stream ended');
  return step.value.outputIds;
}

describe('RequestState', () => {
  it('streams every token as it comes, also for a model without a tokenizer', async () => {
    const state = new RequestState('r', 3, null);
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

  it('finds a stop string across tokens and ends with the text of one whole decode', async () => {
    const tokenizer = new ByteTokenizer();
    const ids = [...Buffer.from('hello wor')];
    const plain = new RequestState('a', 1, tokenizer);
    for (const id of ids) expect(plain.push(id)).toBeNull();
    plain.end('length');
    expect(plain.text).toBe(tokenizer.decode(ids, { skipSpecialTokens: true }));
    const stopping = new RequestState('b', 1, tokenizer, { stops: ['o w'] });
    const stops = ids.map((id) => stopping.push(id));
    expect(stops.filter((x) => x !== null)).toEqual(['o w']);
    stopping.end('stop', 'o w');
    expect(stopping.text).toBe('hell');
    const keeping = new RequestState('c', 1, tokenizer, { stops: ['o w'], noStopTrim: true });
    for (const id of ids) keeping.push(id);
    keeping.end('stop', 'o w');
    expect(keeping.text).toBe('hello w');
  });
});
