import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../test/support/clock.js';
import { HOUR_MS, UsageTally, batchRows } from './tally.js';

describe('UsageTally', () => {
  it('holds at most maxPendingKeys keys, asks once for an early write, and says how many it dropped', () => {
    const clock = new FakeClock(new Date(5 * HOUR_MS + 10));
    const tally = new UsageTally({ registration: 'default', maxPendingKeys: 2, clock: clock.now });
    let full = 0;
    tally.onFull = () => full++;
    tally.count('a', 'ok');
    tally.count('b', 'forbidden');
    tally.count('a', 'ok');
    tally.count('c', 'ok'); // a third key: not held
    tally.count('d', 'ok');
    tally.count('b', 'forbidden'); // a key already held is still counted
    expect(full).toBe(1);
    expect(tally.pendingKeys).toBe(2);
    // /metrics counts every request, those the table will not get included.
    expect(tally.totals).toEqual([4, 0, 2, 0, 0, 0]);
    clock.advance(HOUR_MS);
    const { batch, dropped } = tally.take();
    expect(dropped).toBe(2);
    expect(batchRows(batch!)).toEqual([
      { registration: 'default', keyId: 'a', hour: 5, outcome: 'ok', requests: 2 },
      { registration: 'default', keyId: 'b', hour: 5, outcome: 'forbidden', requests: 2 },
    ]);
    // The next counts are the next hour's, and a key is held again.
    tally.count('c', 'ok');
    expect(batchRows(tally.take().batch!)).toEqual([
      { registration: 'default', keyId: 'c', hour: 6, outcome: 'ok', requests: 1 },
    ]);
  });

  it('moves a request from ok to rate_limited, and knows the keys it counted by prefix', () => {
    const tally = new UsageTally({
      registration: 'default',
      maxPendingKeys: 10,
      clock: () => new Date(0),
    });
    tally.count('id-1', 'ok', 'AbCd1234');
    tally.recount('id-1', 'ok', 'rate_limited');
    expect(tally.totals).toEqual([0, 0, 0, 0, 1, 0]);
    expect(tally.keyIdOf('AbCd1234')).toBe('id-1');
    expect(tally.keyIdOf('Zz9Zz9Zz')).toBeUndefined();
  });
});
