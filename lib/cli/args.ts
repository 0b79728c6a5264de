/**
 * The command line of the `nestjs-api-key` CLI: its usage text, and the checks that turn argv
 * into a command before anything is opened.
 */
import { parseArgs } from 'node:util';
import { CliUsageError } from './errors.js';
import { parseAssignments, parseDuration, parseExpiry } from './values.js';
import { policyArguments, type CliPolicies } from './policy-args.js';

export type { CliPolicies } from './policy-args.js';

/** The CLI's name, as it starts every line it writes to stderr. */
export const PROGRAM = 'nestjs-api-key';

/** How long the CLI waits for the database when `--timeout` is not given. */
export const DEFAULT_TIMEOUT_MS = 15_000;

/** The text of `help`. */
export const USAGE = `Usage: ${PROGRAM} --data-source <file> [--timeout <duration>] <command> [options]

Manages API keys in the database of a TypeORM DataSource file (compiled JavaScript, ESM or
CommonJS, exporting one DataSource instance, as for the typeorm CLI). Pending migrations are
run first. The file may also export \`apiKeyOptions\` (the options given to
ApiKeyModule.forRoot(), such as brand, hasher or entity) so that keys made here match the
application's. The whole command gives up after --timeout (default 15s; 0 waits forever).

Commands:
  create --name <name> [--scopes a,b] [--expires <ISO-8601 | 30d | 12h | 2w>]
         [--allowed-ips <10.0.0.0/8,2001:db8::/32>] [--uses <n> [--refill <n>/<day|month>]]
         [--set <column>=<value>]... [--json]
                             make a key and print it once; --allowed-ips: the only addresses
                             it works from; --uses: credits, one spent per request, topped up
                             to --refill's n each UTC day or month; --set fills the entity's
                             own columns, such as its owner (--set partnerId=42)
  list [--all] [--unused-for <90d | 12w>] [--expiring-in <7d>] [--json]
                             keys without secrets or hashes (--all: also revoked and expired;
                             --unused-for: only usable keys last used, or never used and
                             created, longer ago than that; --expiring-in: only usable keys
                             expiring within that time)
  show <id-or-prefix> [--json]
                             one key
  revoke <id-or-prefix> [--json]
                             revoke a key for good (revoking it again is not an error)
  disable <id-or-prefix> [--json]
                             suspend a key: refused until enabled again
  enable <id-or-prefix> [--json]
                             resume a suspended key (never a revoked one)
  revoke --unused-for <90d | 12w> [--dry-run] [--json]
                             revoke every usable key unused that long (see list --unused-for);
                             --dry-run only prints what would be revoked
  rotate <id-or-prefix> [--grace <0 | 30m | 1h | 7d>] [--json]
                             replace a key with a new one, printed once; the old key keeps
                             working for the grace period (default 0: revoked at once)
  usage <id-or-prefix> [--days <1-400>] [--json]
                             requests per day (UTC) by outcome over the last --days
                             (default 30), with a sparkline; --json: totals and days
  help                       this text

With --json, the last line of standard output is one JSON document.`;

interface CommandSpec {
  options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>;
  /** Name of the one positional argument the command takes, if any. */
  argument?: string;
  /** An option that takes the place of the argument. */
  argumentOr?: string;
}

const JSON_OPTION = { json: { type: 'boolean' } } as const;
const UNUSED_FOR_OPTION = { 'unused-for': { type: 'string' } } as const;
const COMMANDS: Record<string, CommandSpec> = {
  create: {
    options: {
      name: { type: 'string' },
      scopes: { type: 'string' },
      expires: { type: 'string' },
      'allowed-ips': { type: 'string' },
      uses: { type: 'string' },
      refill: { type: 'string' },
      set: { type: 'string', multiple: true },
      ...JSON_OPTION,
    },
  },
  list: {
    options: {
      all: { type: 'boolean' },
      'expiring-in': { type: 'string' },
      ...UNUSED_FOR_OPTION,
      ...JSON_OPTION,
    },
  },
  show: { options: JSON_OPTION, argument: 'id-or-prefix' },
  disable: { options: JSON_OPTION, argument: 'id-or-prefix' },
  enable: { options: JSON_OPTION, argument: 'id-or-prefix' },
  revoke: {
    options: { ...UNUSED_FOR_OPTION, 'dry-run': { type: 'boolean' }, ...JSON_OPTION },
    argument: 'id-or-prefix',
    argumentOr: 'unused-for',
  },
  rotate: { options: { grace: { type: 'string' }, ...JSON_OPTION }, argument: 'id-or-prefix' },
  usage: { options: { days: { type: 'string' }, ...JSON_OPTION }, argument: 'id-or-prefix' },
};
/** Options every command takes, before or after its name. */
const GLOBAL_OPTIONS = {
  'data-source': { type: 'string' },
  timeout: { type: 'string' },
} as const;

/** What every command that works on the database is given. */
interface DatabaseCommandBase {
  dataSource: string;
  json: boolean;
  /** `--timeout` in milliseconds (0: no deadline); absent for the default. */
  timeoutMs?: number;
}

/** `--unused-for`: as typed, for messages, and in milliseconds. */
export interface CliUnusedFor {
  text: string;
  ms: number;
}

/** A command line, checked and ready to run. */
export type CliCommand =
  | { command: 'help' }
  | (DatabaseCommandBase & {
      command: 'create';
      name: string;
      scopes: string[];
      expiresAt: Date | null;
      /** `--set` assignments by column name, as typed; absent when none were given. */
      columns?: Record<string, string>;
      /** The policies of `--allowed-ips`, `--uses` and `--refill`, as `create()` takes them. */
      policies: CliPolicies;
    })
  | (DatabaseCommandBase & {
      command: 'list';
      all: boolean;
      unusedFor?: CliUnusedFor;
      /** `--expiring-in`, in milliseconds. */
      expiringInMs?: number;
    })
  | (DatabaseCommandBase & {
      command: 'show' | 'revoke' | 'disable' | 'enable';
      target: string;
    })
  /** `revoke --unused-for`. */
  | (DatabaseCommandBase & { command: 'revoke-dormant'; unusedFor: CliUnusedFor; dryRun: boolean })
  | (DatabaseCommandBase & { command: 'rotate'; target: string; graceMs: number })
  | (DatabaseCommandBase & { command: 'usage'; target: string; days: number });

/** A command that works on the database: every one but `help`. */
export type CliDatabaseCommand = Exclude<CliCommand, { command: 'help' }>;

type OptionValues = Record<string, string | boolean | string[] | undefined>;

/**
 * Checks a command line (without the `node` and script arguments) and turns it into a command.
 * Nothing is opened or written here, so a bad command line never touches the database.
 *
 * @throws {CliUsageError} with one line saying what is wrong
 */
export function parseCommandLine(argv: string[], now: Date = new Date()): CliCommand {
  const command = commandName(argv);
  if (argv.includes('--help') || argv.includes('-h') || command === 'help')
    return { command: 'help' };
  const known = `use one of ${Object.keys(COMMANDS).join(', ')} (see ${PROGRAM} help).`;
  if (command === undefined) throw new CliUsageError(`No command given: ${known}`);
  const spec = COMMANDS[command];
  if (!spec) throw new CliUsageError(`Unknown command "${command}": ${known}`);

  const { values, argument } = readArguments(argv, command, spec, now);
  const base = databaseCommandBase(values);
  switch (command) {
    case 'create':
      return { command, ...base, ...createArguments(values, now) };
    case 'list':
      return { command, ...base, ...listArguments(values) };
    case 'revoke':
      return revokeArguments(values, argument, base);
    case 'rotate':
      return { command, ...base, target: argument!, graceMs: graceOf(values) };
    case 'usage':
      return { command, ...base, target: argument!, days: daysOf(values) };
    default:
      return { command: command as 'show' | 'disable' | 'enable', ...base, target: argument! };
  }
}

/** @throws {CliUsageError} without --data-source, or with a --timeout that is not a duration */
function databaseCommandBase(values: OptionValues): DatabaseCommandBase {
  const dataSource = values['data-source'] as string | undefined;
  if (!dataSource)
    throw new CliUsageError(
      'Missing --data-source <file>: the compiled file exporting your TypeORM DataSource.',
    );
  const base: DatabaseCommandBase = { dataSource, json: values.json === true };
  if (typeof values.timeout === 'string') base.timeoutMs = timeoutOf(values.timeout);
  return base;
}

const timeoutOf = (text: string) =>
  parseDuration('timeout', text, 'a duration such as 15s or 2m (0 waits forever)');
const graceOf = (values: OptionValues) =>
  parseDuration(
    'grace',
    (values.grace as string | undefined) ?? '0',
    '0 (revoke the old key at once) or a duration such as 30m, 1h or 7d',
  );

/** `usage --days`: a whole number of days from 1 to 400, default 30. */
function daysOf(values: OptionValues): number {
  const text = (values.days as string | undefined) ?? '30';
  const days = /^\d{1,3}$/.test(text) ? Number(text) : NaN;
  if (!(days >= 1 && days <= 400))
    throw new CliUsageError(`--days "${text}" is not a whole number of days from 1 to 400.`);
  return days;
}

const unusedForOf = (text: string): CliUnusedFor => {
  const examples = 'a duration such as 90d, 12w or 720h';
  const ms = parseDuration('unused-for', text, examples, Number.MAX_SAFE_INTEGER);
  if (ms === 0)
    throw new CliUsageError(`--unused-for "${text}" must be longer than 0: use ${examples}.`);
  return { text, ms };
};

/**
 * `list`'s options.
 *
 * @throws {CliUsageError} for a bad --unused-for or --expiring-in, or either with --all or the other
 */
function listArguments(values: OptionValues): {
  all: boolean;
  unusedFor?: CliUnusedFor;
  expiringInMs?: number;
} {
  const all = values.all === true;
  const text = values['unused-for'] as string | undefined;
  const expiring = values['expiring-in'] as string | undefined;
  if (expiring !== undefined) {
    if (all || text !== undefined)
      throw new CliUsageError(
        '"list --expiring-in" lists usable keys: drop --all and --unused-for.',
      );
    return { all, expiringInMs: expiringInOf(expiring) };
  }
  if (text === undefined) return { all };
  // Dormant keys are usable ones: revoked and expired keys have nothing left to clean up.
  if (all) throw new CliUsageError('"list" takes --all or --unused-for, not both.');
  return { all, unusedFor: unusedForOf(text) };
}

const expiringInOf = (text: string) =>
  parseDuration('expiring-in', text, 'a duration such as 7d, 2w or 48h', Number.MAX_SAFE_INTEGER);

/** `revoke` of one key, or of the dormant ones. @throws {CliUsageError} for a bad --unused-for */
function revokeArguments(
  values: OptionValues,
  target: string | undefined,
  base: DatabaseCommandBase,
): CliDatabaseCommand {
  const text = values['unused-for'] as string | undefined;
  const dryRun = values['dry-run'] === true;
  if (text !== undefined)
    return { command: 'revoke-dormant', ...base, unusedFor: unusedForOf(text), dryRun };
  if (dryRun) throw new CliUsageError('"revoke --dry-run" needs --unused-for <duration>.');
  return { command: 'revoke', ...base, target: target! };
}

/** The command is the first word that is not a global option or its value. */
function commandName(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (Object.hasOwn(GLOBAL_OPTIONS, argv[i].replace(/^--/, ''))) i++;
    else if (!argv[i].startsWith('-')) return argv[i];
  }
  return undefined;
}

/**
 * The options of `command` and its one positional argument, if it takes one.
 *
 * @throws {CliUsageError} on an option the command does not take, or a missing or extra argument
 */
function readArguments(
  argv: string[],
  command: string,
  spec: CommandSpec,
  now: Date,
): { values: OptionValues; argument: string | undefined } {
  const options = { ...spec.options, ...GLOBAL_OPTIONS };
  refuseDashedValues(argv, options, now);
  let values: OptionValues;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options, allowPositionals: true }));
  } catch (error) {
    const message = (error as Error).message.split('. ')[0];
    throw new CliUsageError(`${message} for "${command}" (see ${PROGRAM} help).`);
  }
  positionals = positionals.slice(positionals.indexOf(command) + 1);
  const replaced = spec.argumentOr !== undefined && values[spec.argumentOr] !== undefined;
  if (replaced && positionals.length > 0)
    throw new CliUsageError(
      `"${command}" takes the key's <${spec.argument}> or --${spec.argumentOr}, not both.`,
    );
  const expected = spec.argument && !replaced ? 1 : 0;
  if (positionals.length < expected)
    throw new CliUsageError(`"${command}" needs the key's <${spec.argument}>.`);
  if (positionals.length > expected)
    throw new CliUsageError(
      `Unexpected argument "${positionals[expected]}" for "${command}" (see ${PROGRAM} help).`,
    );
  return { values, argument: positionals[0] };
}

/**
 * Answers `--expires -5d` and the like, which node:util would call "ambiguous": the value is
 * checked as the option's own (naming what it accepts), or else shown how to be written.
 *
 * @throws {CliUsageError} when an option that takes a value is followed by one starting with a dash
 */
function refuseDashedValues(argv: string[], options: CommandSpec['options'], now: Date): void {
  for (let i = 0; i + 1 < argv.length; i++) {
    const option = argv[i].startsWith('--') ? argv[i].slice(2) : '';
    const value = argv[i + 1];
    if (options[option]?.type !== 'string' || !value.startsWith('-')) continue;
    // A forgotten value followed by the next option is left to parseArgs to report.
    if (value === '-h' || Object.hasOwn(options, value.replace(/^--/, '').split('=')[0])) continue;
    if (option === 'expires') parseExpiry(value, now);
    if (option === 'grace') graceOf({ grace: value });
    if (option === 'timeout') timeoutOf(value);
    if (option === 'unused-for') unusedForOf(value);
    if (option === 'expiring-in') expiringInOf(value);
    if (option === 'uses' || option === 'refill') policyArguments({ [option]: value });
    throw new CliUsageError(
      `--${option} "${value}" starts with a dash: write --${option}=${value} if that is the value.`,
    );
  }
}

/**
 * The name, scopes, expiry and further columns of `create`.
 *
 * @throws {CliUsageError} without --name, with an --expires that is not a date, or a bad --set
 */
function createArguments(
  values: OptionValues,
  now: Date,
): Pick<
  Extract<CliCommand, { command: 'create' }>,
  'name' | 'scopes' | 'expiresAt' | 'columns' | 'policies'
> {
  const name = values.name as string | undefined;
  if (name === undefined) throw new CliUsageError('"create" needs --name <name>.');
  const scopes = ((values.scopes as string | undefined) ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const expires = values.expires as string | undefined;
  const expiresAt = expires === undefined ? null : parseExpiry(expires, now);
  const set = values.set as string[] | undefined;
  return {
    name,
    scopes,
    expiresAt,
    policies: policyArguments(values),
    ...(set && { columns: parseAssignments(set) }),
  };
}
