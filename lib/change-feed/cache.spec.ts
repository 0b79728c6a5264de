import { Raw } from 'typeorm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiKeyConfigurationError } from '../api-key.errors.js';
import { resolveApiKeyOptions } from '../options/resolve.js';
import { NotifiedRowCache } from './cache.js';
import { ApiKey } from '../api-key.entity.js';

const row = (prefix: string) => ({ row: { prefix } as ApiKey, hashedKey: 'h', secretTag: null });
const registration = { name: 'default', entity: ApiKey };
const MAX_STALENESS = 250;

/** A cache whose channel is up and has just proved itself. */
function provenCache(): NotifiedRowCache<ApiKey> {
  const cache = new NotifiedRowCache<ApiKey>(MAX_STALENESS);
  cache.up();
  cache.proven(performance.now());
  return cache;
}

describe('NotifiedRowCache', () => {
  it('serves nothing until its channel is up, and stores only rows read while it was', () => {
    const cache = new NotifiedRowCache<ApiKey>(MAX_STALENESS);
    const before = cache.ticket();
    cache.set('aaaaaaaa', row('aaaaaaaa'), before);
    expect(cache.get('aaaaaaaa', cache.ticket())).toBeUndefined();
    cache.up();
    cache.proven(performance.now());
    const ticket = cache.ticket();
    cache.set('aaaaaaaa', row('aaaaaaaa'), ticket);
    expect(cache.get('aaaaaaaa', cache.ticket())).toEqual(row('aaaaaaaa'));
  });

  it('refuses a row read while a change was reported, and drops a changed one', () => {
    const cache = provenCache();
    const ticket = cache.ticket();
    cache.changed('bbbbbbbb');
    cache.set('aaaaaaaa', row('aaaaaaaa'), ticket);
    expect(cache.get('aaaaaaaa', cache.ticket())).toBeUndefined();
    cache.set('aaaaaaaa', row('aaaaaaaa'), cache.ticket());
    cache.changed('aaaaaaaa');
    expect(cache.get('aaaaaaaa', cache.ticket())).toBeUndefined();
    cache.set('aaaaaaaa', row('aaaaaaaa'), cache.ticket());
    cache.changed('*');
    expect(cache.get('aaaaaaaa', cache.ticket())).toBeUndefined();
  });

  it('empties itself when the channel goes down and serves nothing until it is back', () => {
    const cache = provenCache();
    const ticket = cache.ticket();
    cache.set('aaaaaaaa', row('aaaaaaaa'), ticket);
    cache.down();
    expect(cache.ticket()).toBe(-1);
    cache.set('aaaaaaaa', row('aaaaaaaa'), ticket);
    cache.up();
    cache.proven(performance.now());
    expect(cache.get('aaaaaaaa', cache.ticket())).toBeUndefined();
  });
});

describe('NotifiedRowCache lease', () => {
  afterEach(() => vi.restoreAllMocks());
  /** Sets the clock the lease is read against. */
  const clockAt = (ms: number) => vi.spyOn(performance, 'now').mockReturnValue(ms);

  it('serves a row only until maxStaleness after the last proof, and again once renewed', () => {
    clockAt(1_000);
    const cache = new NotifiedRowCache<ApiKey>(MAX_STALENESS);
    cache.up();
    cache.proven(1_000);
    cache.set('aaaaaaaa', row('aaaaaaaa'), cache.ticket());
    expect(cache.leaseEnd).toBe(1_000 + MAX_STALENESS);
    clockAt(1_000 + MAX_STALENESS - 1);
    expect(cache.get('aaaaaaaa', cache.ticket())).toEqual(row('aaaaaaaa'));
    // A silent channel: no proof came, so the lease lapses, and the request reads instead.
    clockAt(1_000 + MAX_STALENESS);
    expect(cache.ticket()).toBe(-1);
    expect(cache.get('aaaaaaaa', cache.ticket())).toBeUndefined();
    // A round trip that began later proves every change before it was reported: the row kept is current.
    clockAt(1_400);
    cache.proven(1_390);
    expect(cache.get('aaaaaaaa', cache.ticket())).toEqual(row('aaaaaaaa'));
  });

  it('never shortens a lease for a proof that comes back out of order', () => {
    clockAt(1_000);
    const cache = provenCache();
    cache.proven(900);
    expect(cache.leaseEnd).toBe(1_000 + MAX_STALENESS);
  });

  it('grants no lease while the channel is down, nor for being up alone', () => {
    clockAt(1_000);
    const cache = new NotifiedRowCache<ApiKey>(MAX_STALENESS);
    cache.proven(1_000);
    expect(cache.ticket()).toBe(-1);
    cache.up();
    expect(cache.ticket()).toBe(-1);
    cache.proven(1_000);
    expect(cache.ticket()).toBeGreaterThanOrEqual(0);
    cache.down();
    cache.proven(1_000);
    expect(cache.ticket()).toBe(-1);
    expect(cache.leaseEnd).toBe(-Infinity);
  });
});

describe('revocationSync option', () => {
  it("defaults to 'read' and takes 'notify'", () => {
    expect(resolveApiKeyOptions({}, registration).revocationSync).toBe('read');
    expect(resolveApiKeyOptions({ revocationSync: 'notify' }, registration).revocationSync).toBe(
      'notify',
    );
  });

  it('takes usableWhere without Raw SQL, to be heard through the tables it reads', () => {
    const options = { revocationSync: 'notify', usableWhere: { partner: { active: true } } };
    expect(resolveApiKeyOptions(options as any, registration).revocationSync).toBe('notify');
  });

  it('takes a poll interval in its object form, 100 ms by default', () => {
    const polled = resolveApiKeyOptions(
      { revocationSync: { mode: 'notify', pollInterval: 50 } },
      registration,
    );
    expect(polled.revocationSync).toBe('notify');
    expect(polled.revocationPollInterval).toBe(50);
    expect(resolveApiKeyOptions({}, registration).revocationPollInterval).toBe(100);
  });

  it.each([
    [{ mode: 'notify' }, 100, 250],
    [{ mode: 'notify', pollInterval: 50 }, 50, 200],
    [{ mode: 'notify', pollInterval: 1_000 }, 1_000, 1_150],
    [{ mode: 'notify', maxStaleness: 500 }, 100, 500],
    [{ mode: 'notify', maxStaleness: 120 }, 60, 120],
    [{ mode: 'notify', pollInterval: 20, maxStaleness: 30 }, 20, 30],
  ])(
    'paces %j: a round trip every %i ms, served from memory within %i ms of the last',
    (revocationSync, interval, staleness) => {
      const options = resolveApiKeyOptions({ revocationSync } as any, registration);
      expect(options.revocationPollInterval).toBe(interval);
      expect(options.revocationMaxStaleness).toBe(staleness);
    },
  );

  it.each([
    [{ revocationSync: 'listen' }, /expected 'read' or 'notify'/],
    [{ revocationSync: { mode: 'read' } }, /expected 'read' or 'notify'/],
    [{ revocationSync: { mode: 'notify', every: 5 } }, /expected 'read' or 'notify'/],
    [{ revocationSync: { mode: 'notify', pollInterval: 0 } }, /pollInterval: expected a whole/],
    [{ revocationSync: { mode: 'notify', maxStaleness: 0 } }, /maxStaleness: expected a whole/],
    [{ revocationSync: { mode: 'notify', maxStaleness: 1 } }, /must be shorter than maxStaleness/],
    [{ revocationSync: { mode: 'notify', maxStaleness: '250' } }, /maxStaleness: expected/],
    [
      { revocationSync: { mode: 'notify', pollInterval: 300, maxStaleness: 250 } },
      /pollInterval \(300 ms\) must be shorter than maxStaleness \(250 ms\).*Fix: set pollInterval/s,
    ],
    [
      { revocationSync: 'notify', usableWhere: { partner: { paidUntil: Raw('1 = 1') } } },
      /usableWhere\.partner\.paidUntil: a Raw\(\.\.\.\) condition.*Fix: write that condition/s,
    ],
  ])('refuses %j at boot', (options, message) => {
    expect(() => resolveApiKeyOptions(options as any, registration)).toThrow(
      ApiKeyConfigurationError,
    );
    expect(() => resolveApiKeyOptions(options as any, registration)).toThrow(message);
  });
});
