import { describe, expect, it } from 'vitest';
import { parseCommandLine, parseExpiry } from './api-key.cli-args.js';

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

describe('parseCommandLine', () => {
  it('reads create with every option, wherever --data-source stands', () => {
    const expected = {
      command: 'create',
      dataSource: 'ds.js',
      json: true,
      name: 'ci',
      scopes: ['a:read', 'b'],
      expiresAt: new Date(NOW.getTime() + 12 * HOUR),
    };
    expect(
      parseCommandLine(
        [
          '--data-source',
          'ds.js',
          'create',
          '--name',
          'ci',
          '--scopes',
          'a:read, b,',
          '--expires',
          '12h',
          '--json',
        ],
        NOW,
      ),
    ).toEqual(expected);
    expect(
      parseCommandLine(
        [
          'create',
          '--json',
          '--name=ci',
          '--scopes=a:read,b',
          '--expires=12h',
          '--data-source=ds.js',
        ],
        NOW,
      ),
    ).toEqual(expected);
  });

  it('defaults create to no scopes and no expiry, and passes the name on as given for the service to check', () => {
    expect(parseCommandLine(['create', '--name', '', '--data-source', 'ds.js'], NOW)).toEqual({
      command: 'create',
      dataSource: 'ds.js',
      json: false,
      name: '',
      scopes: [],
      expiresAt: null,
    });
  });

  it('reads list, show and revoke', () => {
    expect(parseCommandLine(['list', '--all', '--data-source', 'ds.js'])).toEqual({
      command: 'list',
      dataSource: 'ds.js',
      json: false,
      all: true,
    });
    expect(parseCommandLine(['show', 'AbCd1234', '--json', '--data-source', 'ds.js'])).toEqual({
      command: 'show',
      dataSource: 'ds.js',
      json: true,
      target: 'AbCd1234',
    });
    expect(parseCommandLine(['--data-source', 'ds.js', 'revoke', 'AbCd1234'])).toEqual({
      command: 'revoke',
      dataSource: 'ds.js',
      json: false,
      target: 'AbCd1234',
    });
  });

  it('answers help without needing a data source', () => {
    expect(parseCommandLine(['help'])).toEqual({ command: 'help' });
    expect(parseCommandLine(['list', '--help'])).toEqual({ command: 'help' });
  });

  it.each([
    [[], /^No command given/],
    [['frobnicate', '--data-source', 'ds.js'], /^Unknown command "frobnicate"/],
    [
      ['list', '--everything', '--data-source', 'ds.js'],
      /^Unknown option '--everything' for "list"/,
    ],
    [['list', '--json=yes', '--data-source', 'ds.js'], /does not take an argument for "list"/],
    [
      ['create', '--name', 'x', '--all', '--data-source', 'ds.js'],
      /^Unknown option '--all' for "create"/,
    ],
    [['create', '--data-source', 'ds.js'], /^"create" needs --name <name>\.$/],
    [['create', '--data-source', 'ds.js', '--name'], /argument missing for "create"/],
    [
      ['create', '--name', 'x', '--expires', 'soon', '--data-source', 'ds.js'],
      /^--expires "soon" is not a date/,
    ],
    [['revoke', '--data-source', 'ds.js'], /^"revoke" needs the key's <id-or-prefix>\.$/],
    [['show', 'a', 'b', '--data-source', 'ds.js'], /^Unexpected argument "b" for "show"/],
    [['list'], /^Missing --data-source <file>/],
  ])('refuses %j with one line', (argv, message) => {
    let error: Error | undefined;
    try {
      parseCommandLine(argv as string[], NOW);
    } catch (caught) {
      error = caught as Error;
    }
    expect(error?.message).toMatch(message);
    expect(error?.message).not.toContain('\n');
  });
});
