import { describe, expect, it } from 'vitest';
import { parseCommandLine } from './args.js';

const NOW = new Date('2030-06-15T10:00:00.000Z');
const HOUR = 3_600_000;

describe('parseCommandLine', () => {
  it('reads create with every option, wherever --data-source stands', () => {
    const expected = {
      command: 'create',
      dataSource: 'ds.js',
      json: true,
      name: 'ci',
      scopes: ['a:read', 'b'],
      expiresAt: new Date(NOW.getTime() + 12 * HOUR),
      policies: {},
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
      policies: {},
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

  it('reads rotate with its grace period (default 0) and --timeout before or after the command', () => {
    expect(
      parseCommandLine(['rotate', 'AbCd1234', '--grace', '1h', '--data-source', 'ds.js']),
    ).toEqual({
      command: 'rotate',
      dataSource: 'ds.js',
      json: false,
      target: 'AbCd1234',
      graceMs: HOUR,
    });
    expect(
      parseCommandLine([
        '--timeout',
        '2m',
        '--data-source',
        'ds.js',
        'rotate',
        'AbCd1234',
        '--json',
      ]),
    ).toEqual({
      command: 'rotate',
      dataSource: 'ds.js',
      json: true,
      target: 'AbCd1234',
      graceMs: 0,
      timeoutMs: 120_000,
    });
    expect(parseCommandLine(['list', '--timeout=0', '--data-source', 'ds.js'])).toMatchObject({
      command: 'list',
      timeoutMs: 0,
    });
  });

  it('reads repeated --set column=value assignments of create, values as typed', () => {
    expect(
      parseCommandLine(
        [
          'create',
          '--name',
          'p',
          '--set',
          'partnerId=42',
          '--set=note=a=b',
          '--set',
          'tag=',
          '--data-source=ds.js',
        ],
        NOW,
      ),
    ).toEqual({
      command: 'create',
      dataSource: 'ds.js',
      json: false,
      name: 'p',
      scopes: [],
      expiresAt: null,
      policies: {},
      columns: { partnerId: '42', note: 'a=b', tag: '' },
    });
  });

  it('reads the policies of create, and refuses --uses and --refill it cannot read', () => {
    const command = parseCommandLine(
      [
        'create',
        '--name',
        'trial',
        '--allowed-ips',
        '10.0.0.0/8, 2001:db8::/32,',
        '--uses',
        '100',
        '--refill',
        '100/day',
        '--data-source=ds.js',
      ],
      NOW,
    );
    expect(command).toMatchObject({
      policies: {
        allowedIps: ['10.0.0.0/8', '2001:db8::/32'],
        remaining: 100,
        refillAmount: 100,
        refillInterval: 'day',
      },
    });
    for (const [option, value, message] of [
      ['--uses', '-1', /--uses "-1" is not a whole number/],
      ['--uses', '1.5', /--uses "1.5" is not a whole number/],
      ['--refill', '100/week', /--refill "100\/week" is not of the form <n>\/day or <n>\/month/],
      ['--refill', '100', /--refill "100" is not of the form/],
    ] as const)
      expect(() =>
        parseCommandLine(['create', '--name', 'x', option, value, '--data-source=ds.js'], NOW),
      ).toThrow(message);
  });

  it('reads disable, enable and list --expiring-in', () => {
    expect(parseCommandLine(['disable', 'AbCd1234', '--data-source=ds.js'])).toEqual({
      command: 'disable',
      dataSource: 'ds.js',
      json: false,
      target: 'AbCd1234',
    });
    expect(parseCommandLine(['enable', 'AbCd1234', '--json', '--data-source=ds.js'])).toMatchObject(
      { command: 'enable', json: true, target: 'AbCd1234' },
    );
    expect(parseCommandLine(['list', '--expiring-in', '7d', '--data-source=ds.js'])).toMatchObject({
      command: 'list',
      expiringInMs: 7 * 24 * HOUR,
    });
    expect(() =>
      parseCommandLine(['list', '--expiring-in', '7d', '--all', '--data-source=ds.js']),
    ).toThrow(/drop --all/);
    expect(() =>
      parseCommandLine(['list', '--expiring-in', 'soon', '--data-source=ds.js']),
    ).toThrow(/--expiring-in "soon" is not a duration/);
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
    [
      ['create', '--name', 'x', '--expires', '-5d', '--data-source', 'ds.js'],
      /^--expires "-5d" is not a date: .* An expiry must be in the future\.$/,
    ],
    [
      ['create', '--name', 'x', '--data-source', 'ds.js', '--expires', '-2030-01-01'],
      /An expiry must be in the future/,
    ],
    [['create', '--name', '-x', '--data-source', 'ds.js'], /write --name=-x if that is the value/],
    [
      ['create', '--name', 'x', '--set', 'partnerId', '--data-source', 'ds.js'],
      /^--set "partnerId" is not an assignment/,
    ],
    [
      ['create', '--name', 'x', '--set', '=1', '--data-source', 'ds.js'],
      /^--set "=1" is not an assignment/,
    ],
    [
      ['create', '--name', 'x', '--set', 'a=1', '--set', 'a=2', '--data-source', 'ds.js'],
      /^--set gives the column "a" twice/,
    ],
    [['list', '--set', 'a=1', '--data-source', 'ds.js'], /^Unknown option '--set' for "list"/],
    [['rotate', '--data-source', 'ds.js'], /^"rotate" needs the key's <id-or-prefix>\.$/],
    [
      ['rotate', 'k', '--grace', '-1h', '--data-source', 'ds.js'],
      /^--grace "-1h" cannot be negative: use 0/,
    ],
    [
      ['rotate', 'k', '--grace', 'soon', '--data-source', 'ds.js'],
      /^--grace "soon" is not a duration/,
    ],
    [['rotate', 'k', '--grace', '1y', '--data-source', 'ds.js'], /^--grace "1y" is not a duration/],
    [['list', '--timeout', '-5s', '--data-source', 'ds.js'], /^--timeout "-5s" cannot be negative/],
    [
      ['list', '--timeout', '15', '--data-source', 'ds.js'],
      /^--timeout "15" is not a duration: use a duration such as 15s/,
    ],
    [
      ['list', '--timeout', '99999w', '--data-source', 'ds.js'],
      /^--timeout "99999w" is not a duration/,
    ],
    [
      ['revoke', '--unused-for', '-5d', '--data-source', 'ds.js'],
      /^--unused-for "-5d" cannot be negative: use a duration such as 90d/,
    ],
    [['list', '--unused-for', '0', '--data-source', 'ds.js'], /^--unused-for "0" must be longer/],
    [['list', '--unused-for', '3 months', '--data-source', 'ds.js'], /is not a duration/],
    [['list', '--unused-for', '90d', '--all', '--data-source', 'ds.js'], /--all or --unused-for/],
    [
      ['revoke', 'k', '--unused-for', '90d', '--data-source', 'ds.js'],
      /^"revoke" takes the key's <id-or-prefix> or --unused-for, not both\.$/,
    ],
    [['revoke', 'k', '--dry-run', '--data-source', 'ds.js'], /needs --unused-for/],
    [['revoke', '--data-source', 'ds.js'], /^"revoke" needs the key's <id-or-prefix>\.$/],
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

  it('reads list and revoke --unused-for, with durations longer than a timer can wait', () => {
    const base = { dataSource: 'ds.js', json: false };
    const unusedFor = { text: '90d', ms: 90 * 24 * HOUR };
    expect(parseCommandLine(['list', '--unused-for', '90d', '--data-source', 'ds.js'])).toEqual({
      command: 'list',
      ...base,
      all: false,
      unusedFor,
    });
    expect(
      parseCommandLine(['revoke', '--unused-for=90d', '--dry-run', '--data-source', 'ds.js']),
    ).toEqual({ command: 'revoke-dormant', ...base, unusedFor, dryRun: true });
    expect(
      parseCommandLine(['revoke', '--unused-for', '90d', '--json', '--data-source', 'ds.js']),
    ).toEqual({ command: 'revoke-dormant', ...base, json: true, unusedFor, dryRun: false });
  });
});
