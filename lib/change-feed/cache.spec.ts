import { Raw } from 'typeorm';
import { describe, expect, it } from 'vitest';
import { ApiKeyConfigurationError } from '../api-key.errors.js';
import { resolveApiKeyOptions } from '../options/resolve.js';
import { NotifiedRowCache } from './cache.js';
import { ApiKey } from '../api-key.entity.js';

const row = (prefix: string) => ({ row: { prefix } as ApiKey, hashedKey: 'h' });
const registration = { name: 'default', entity: ApiKey };

describe('NotifiedRowCache', () => {
  it('serves nothing until its channel is up, and stores only rows read while it was', () => {
    const cache = new NotifiedRowCache<ApiKey>();
    const before = cache.ticket();
    cache.set('aaaaaaaa', row('aaaaaaaa'), before);
    expect(cache.get('aaaaaaaa', cache.ticket())).toBeUndefined();
    cache.up();
    const ticket = cache.ticket();
    cache.set('aaaaaaaa', row('aaaaaaaa'), ticket);
    expect(cache.get('aaaaaaaa', cache.ticket())).toEqual(row('aaaaaaaa'));
  });

  it('refuses a row read while a change was reported, and drops a changed one', () => {
    const cache = new NotifiedRowCache<ApiKey>();
    cache.up();
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
    const cache = new NotifiedRowCache<ApiKey>();
    cache.up();
    const ticket = cache.ticket();
    cache.set('aaaaaaaa', row('aaaaaaaa'), ticket);
    cache.down();
    expect(cache.ticket()).toBe(-1);
    cache.set('aaaaaaaa', row('aaaaaaaa'), ticket);
    cache.up();
    expect(cache.get('aaaaaaaa', cache.ticket())).toBeUndefined();
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
    [{ revocationSync: 'listen' }, /expected 'read' or 'notify'/],
    [{ revocationSync: { mode: 'read' } }, /expected 'read' or 'notify'/],
    [{ revocationSync: { mode: 'notify', every: 5 } }, /expected 'read' or 'notify'/],
    [{ revocationSync: { mode: 'notify', pollInterval: 0 } }, /pollInterval: expected a whole/],
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
