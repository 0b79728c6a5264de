import { describe, expect, it } from 'vitest';
import { ApiKeyAdminBadRequest } from './admin.errors.js';
import { MAX_BULK, bodyOf, parseGracePeriod, parseIds, parseKeyFields } from './admin.input.js';

const now = new Date('2030-01-01T00:00:00Z');

/** The `fields` of the 400 that `run` throws. */
function refusal(run: () => unknown): Record<string, string> {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ApiKeyAdminBadRequest);
    return ((error as ApiKeyAdminBadRequest).getResponse() as { fields: Record<string, string> })
      .fields;
  }
  throw new Error('expected a 400');
}

describe('bodyOf', () => {
  it('takes a JSON object and refuses anything else', () => {
    expect(bodyOf({ name: 'a' })).toEqual({ name: 'a' });
    for (const body of [null, undefined, 'text', 1, ['a']])
      expect(refusal(() => bodyOf(body))).toHaveProperty('body');
  });
});

describe('parseKeyFields', () => {
  it('reads scopes as a list or comma-separated text, and trims the name', () => {
    expect(parseKeyFields({ name: '  ci  ', scopes: ' a:read, ,b:write ,' }, now)).toEqual({
      name: 'ci',
      scopes: ['a:read', 'b:write'],
    });
    expect(parseKeyFields({ scopes: ['a:read'] }, now)).toEqual({ scopes: ['a:read'] });
    expect(parseKeyFields({}, now)).toEqual({});
  });

  it('reads an expiry as a date, a date-time, a duration from now, or none', () => {
    expect(parseKeyFields({ expiresAt: '2030-01-31' }, now).expiresAt).toEqual(
      new Date('2030-01-31T00:00:00Z'),
    );
    expect(parseKeyFields({ expiresAt: ' 2030-02-01T12:00:00Z ' }, now).expiresAt).toEqual(
      new Date('2030-02-01T12:00:00Z'),
    );
    expect(parseKeyFields({ expiresAt: '30d' }, now).expiresAt).toEqual(
      new Date('2030-01-31T00:00:00Z'),
    );
    expect(parseKeyFields({ expiresAt: null }, now).expiresAt).toBeNull();
    expect(parseKeyFields({ expiresAt: '' }, now).expiresAt).toBeNull();
  });

  it('names the field at fault', () => {
    expect(refusal(() => parseKeyFields({ name: 42 }, now))).toEqual({ name: 'expected text.' });
    expect(refusal(() => parseKeyFields({ scopes: 7 }, now))).toHaveProperty('scopes');
    for (const expiresAt of ['tomorrow', '2030-02-30', 5, 'x'.repeat(41)])
      expect(refusal(() => parseKeyFields({ expiresAt }, now))).toHaveProperty('expiresAt');
    expect(refusal(() => parseKeyFields({ revokedAt: null }, now))).toEqual({
      revokedAt: 'is not a field that can be set here.',
    });
  });

  it('passes on only the extra fields it is allowed to, as given', () => {
    expect(parseKeyFields({ name: 'a', partnerId: 'p-1' }, now, ['partnerId'])).toEqual({
      name: 'a',
      partnerId: 'p-1',
    });
    expect(refusal(() => parseKeyFields({ partnerId: 'p-1' }, now))).toHaveProperty('partnerId');
  });
});

describe('parseGracePeriod', () => {
  it('takes whole milliseconds from 0 to a year, 0 when absent', () => {
    expect(parseGracePeriod({})).toBe(0);
    expect(parseGracePeriod({ gracePeriod: 3_600_000 })).toBe(3_600_000);
    expect(parseGracePeriod({ gracePeriod: 31_536_000_000 })).toBe(31_536_000_000);
    for (const gracePeriod of [-1, 1.5, '3600000', 31_536_000_001])
      expect(refusal(() => parseGracePeriod({ gracePeriod }))).toHaveProperty('gracePeriod');
  });
});

describe('parseIds', () => {
  it('takes 1 to MAX_BULK ids, without repeats', () => {
    expect(parseIds({ ids: ['a', 'b', 'a'] })).toEqual(['a', 'b']);
    expect(parseIds({ ids: Array.from({ length: MAX_BULK }, (_, i) => `id-${i}`) })).toHaveLength(
      MAX_BULK,
    );
  });

  it('refuses anything else', () => {
    for (const ids of [
      undefined,
      'a',
      [],
      Array.from({ length: MAX_BULK + 1 }, (_, i) => `id-${i}`),
      [''],
      [1],
      ['x'.repeat(65)],
    ])
      expect(refusal(() => parseIds({ ids }))).toHaveProperty('ids');
  });
});
