import { describe, expect, it } from 'vitest';
import { parseAssignments, parseDuration, parseExpiry, readableDuration } from './values.js';

const NOW = new Date('2030-06-15T10:00:00.000Z');
const HOUR = 3_600_000;

describe('parseExpiry', () => {
  it.each([
    ['12h', new Date(NOW.getTime() + 12 * HOUR)],
    ['30d', new Date(NOW.getTime() + 30 * 24 * HOUR)],
    ['2w', new Date(NOW.getTime() + 14 * 24 * HOUR)],
    ['2031-02-28', new Date('2031-02-28T00:00:00.000Z')],
    ['2032-02-29', new Date('2032-02-29T00:00:00.000Z')],
    ['2031-01-02T03:04:05Z', new Date('2031-01-02T03:04:05.000Z')],
    ['2031-01-02T03:04:05.678Z', new Date('2031-01-02T03:04:05.678Z')],
    ['2031-01-02T03:04:05-05:30', new Date('2031-01-02T08:34:05.000Z')],
  ])('reads %s', (text, expected) => {
    expect(parseExpiry(text, NOW)).toEqual(expected);
  });

  it('reads a date-time without an offset as local time, as JavaScript does', () => {
    expect(parseExpiry('2031-01-02T03:04', NOW)).toEqual(new Date(2031, 0, 2, 3, 4));
  });

  it.each([
    'tomorrow',
    '',
    '0d',
    '12',
    'h',
    '3m',
    '1y',
    '1.5d',
    '-1d',
    '2031-02-29',
    '2031-04-31',
    '2031-13-01',
    '2031-00-10',
    '2031-1-2',
    '2031-01-02T24:00',
    '2031-01-02T10:60',
    '31/01/2031',
    '2031-01-02T03:04:05+2',
  ])('refuses %j naming the accepted forms', (text) => {
    expect(() => parseExpiry(text, NOW)).toThrow(
      /--expires .* is not a date: use an ISO-8601 date .* or a duration such as 30d/,
    );
  });
});

describe('parseDuration', () => {
  it.each([
    ['0', 0],
    ['15s', 15_000],
    ['30m', 30 * 60_000],
    ['1h', HOUR],
    ['7d', 7 * 24 * HOUR],
    ['2w', 14 * 24 * HOUR],
  ])('reads %s', (text, expected) => {
    expect(parseDuration('grace', text, 'examples')).toBe(expected);
  });

  it.each(['', '1', '1.5h', '1y', ' 1h', '0s0', '5w0', '4000w'])(
    'refuses %j naming the option and the forms it takes',
    (text) => {
      expect(() => parseDuration('grace', text, '0 or 1h')).toThrow(
        `--grace "${text}" is not a duration: use 0 or 1h.`,
      );
    },
  );

  it('says a negative duration cannot be', () => {
    expect(() => parseDuration('timeout', '-5s', '15s')).toThrow(
      '--timeout "-5s" cannot be negative: use 15s.',
    );
  });

  it('reads durations back as people read them', () => {
    expect(readableDuration(15_000)).toBe('15 s');
    expect(readableDuration(1_500)).toBe('1.5 s');
    expect(readableDuration(120_000)).toBe('2 min');
  });
});

describe('parseAssignments', () => {
  it('splits at the first "=", keeping the rest of the value as typed', () => {
    expect(parseAssignments(['partnerId=42', ' note =a=b', 'empty='])).toEqual({
      partnerId: '42',
      note: 'a=b',
      empty: '',
    });
  });
});
