import { describe, expect, it } from 'vitest';
import { EndOfTurnAnswers } from './end-of-turn.js';

/** Resolves after the immediates queued before it (and their microtasks) have run. */
const afterImmediates = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('EndOfTurnAnswers', () => {
  it('works out the items of one turn together, at its end, in the order they came', async () => {
    const seen: number[] = [];
    const answers = new EndOfTurnAnswers<number>((item) => {
      seen.push(item);
      return item % 2 === 0;
    });
    const pending = [1, 2, 3].map((item) => answers.add(item));
    await Promise.resolve();
    // Not before the turn ends: nothing is worked out in the turn the items came in.
    expect(seen).toEqual([]);
    await afterImmediates();
    expect(seen).toEqual([1, 2, 3]);
    expect(await Promise.all(pending)).toEqual([false, true, false]);
  });

  it('starts a new batch for items that come once a batch was worked out', async () => {
    const batches: number[][] = [];
    let current: number[] = [];
    const answers = new EndOfTurnAnswers<number>((item) => {
      current.push(item);
      return true;
    });
    const flush = () => {
      batches.push(current);
      current = [];
    };
    await Promise.all([answers.add(1), answers.add(2)]);
    flush();
    await answers.add(3);
    flush();
    expect(batches).toEqual([[1, 2], [3]]);
  });

  it('rejects only the item whose answer threw, and passes on a promised answer', async () => {
    const answers = new EndOfTurnAnswers<string>((item) => {
      if (item === 'throws') throw new Error('no answer');
      if (item === 'later') return Promise.resolve(true);
      return false;
    });
    const results = await Promise.allSettled([
      answers.add('throws'),
      answers.add('later'),
      answers.add('now'),
    ]);
    expect(results).toEqual([
      { status: 'rejected', reason: new Error('no answer') },
      { status: 'fulfilled', value: true },
      { status: 'fulfilled', value: false },
    ]);
  });
});
