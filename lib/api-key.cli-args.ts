/**
 * The command line of the `nestjs-api-key` CLI: its usage text, and the checks that turn argv
 * into a command before anything is opened.
 */
import { parseArgs } from 'node:util';

/** The CLI's name, as it starts every line it writes to stderr. */
export const PROGRAM = 'nestjs-api-key';

/** The text of `help`. */
export const USAGE = `Usage: ${PROGRAM} --data-source <file> <command> [options]

Manages API keys in the database of a TypeORM DataSource file (compiled JavaScript exporting
one DataSource instance, as for the typeorm CLI). Pending migrations are run first.
The file may also export \`apiKeyOptions\` (the options given to ApiKeyModule.forRoot(), such as
brand, hasher or entity) so that keys made here match the application's.

Commands:
  create --name <name> [--scopes a,b] [--expires <ISO-8601 | 30d | 12h | 2w>] [--json]
                             make a key and print it once
  list [--all] [--json]      keys without secrets or hashes (--all: also revoked and expired)
  show <id-or-prefix> [--json]
                             one key
  revoke <id-or-prefix> [--json]
                             revoke a key for good (revoking it again is not an error)
  help                       this text

With --json, the last line of standard output is one JSON document.`;

/** A mistake in the command line. Reported before anything is opened; exit code 2. */
export class CliUsageError extends Error {}

interface CommandSpec {
  options: Record<string, { type: 'string' | 'boolean' }>;
  /** Name of the one positional argument the command takes, if any. */
  argument?: string;
}

const COMMANDS: Record<string, CommandSpec> = {
  create: {
    options: {
      name: { type: 'string' },
      scopes: { type: 'string' },
      expires: { type: 'string' },
      json: { type: 'boolean' },
    },
  },
  list: { options: { all: { type: 'boolean' }, json: { type: 'boolean' } } },
  show: { options: { json: { type: 'boolean' } }, argument: 'id-or-prefix' },
  revoke: { options: { json: { type: 'boolean' } }, argument: 'id-or-prefix' },
};

/** A command line, checked and ready to run. */
export type CliCommand =
  | { command: 'help' }
  | {
      command: 'create';
      dataSource: string;
      json: boolean;
      name: string;
      scopes: string[];
      expiresAt: Date | null;
    }
  | { command: 'list'; dataSource: string; json: boolean; all: boolean }
  | { command: 'show' | 'revoke'; dataSource: string; json: boolean; target: string };

/** A command that works on the database: every one but `help`. */
export type CliDatabaseCommand = Exclude<CliCommand, { command: 'help' }>;

type OptionValues = Record<string, string | boolean | undefined>;

const DURATION_UNITS: Record<string, number> = { h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const ISO_8601 =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})?)?$/;

/**
 * Reads an expiry: an ISO-8601 date or date-time (a date alone is midnight UTC; a time without
 * an offset is local time, as in JavaScript), or a duration from `now` such as `30d`, `12h`, `2w`.
 *
 * @throws {CliUsageError} naming the accepted forms when the text is none of them
 */
export function parseExpiry(text: string, now: Date): Date {
  const refuse = (): never => {
    throw new CliUsageError(
      `--expires "${text}" is not a date: use an ISO-8601 date such as 2030-01-31 or 2030-01-31T12:00:00Z, or a duration such as 30d, 12h or 2w.`,
    );
  };
  const duration = /^(\d{1,6})([hdw])$/.exec(text);
  if (duration) {
    const amount = Number(duration[1]);
    if (amount === 0) refuse();
    return checkedDate(new Date(now.getTime() + amount * DURATION_UNITS[duration[2]]), refuse);
  }
  const iso = ISO_8601.exec(text);
  if (!iso) return refuse();
  const [, year, month, day, hour = '0', minute = '0', second = '0'] = iso;
  // JavaScript rolls 2030-02-30 over to March; a mistyped day must be an error instead.
  const daysInMonth = new Date(Date.UTC(Number(year), Number(month), 0)).getUTCDate();
  if (Number(month) < 1 || Number(month) > 12 || Number(day) < 1 || Number(day) > daysInMonth)
    refuse();
  if (Number(hour) > 23 || Number(minute) > 59 || Number(second) > 59) refuse();
  return checkedDate(new Date(text.replace(' ', 'T')), refuse);
}

function checkedDate(date: Date, refuse: () => never): Date {
  if (Number.isNaN(date.getTime()) || date.getUTCFullYear() > 9999) refuse();
  return date;
}

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

  const { values, argument } = readArguments(argv, command, spec);
  const dataSource = values['data-source'] as string | undefined;
  if (!dataSource)
    throw new CliUsageError(
      'Missing --data-source <file>: the compiled file exporting your TypeORM DataSource.',
    );
  const json = values.json === true;
  switch (command) {
    case 'create':
      return { command, dataSource, json, ...createArguments(values, now) };
    case 'list':
      return { command, dataSource, json, all: values.all === true };
    default:
      return { command: command as 'show' | 'revoke', dataSource, json, target: argument! };
  }
}

/** The command is the first word that is not --data-source or its value. */
function commandName(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--data-source') i++;
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
): { values: OptionValues; argument: string | undefined } {
  let values: OptionValues;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: { ...spec.options, 'data-source': { type: 'string' } },
      allowPositionals: true,
      strict: true,
    }));
  } catch (error) {
    const message = (error as Error).message.split('. ')[0];
    throw new CliUsageError(`${message} for "${command}" (see ${PROGRAM} help).`);
  }
  positionals = positionals.slice(positionals.indexOf(command) + 1);
  const expected = spec.argument ? 1 : 0;
  if (positionals.length < expected)
    throw new CliUsageError(`"${command}" needs the key's <${spec.argument}>.`);
  if (positionals.length > expected)
    throw new CliUsageError(
      `Unexpected argument "${positionals[expected]}" for "${command}" (see ${PROGRAM} help).`,
    );
  return { values, argument: positionals[0] };
}

/**
 * The name, scopes and expiry of `create`.
 *
 * @throws {CliUsageError} without --name, or with an --expires that is not a date
 */
function createArguments(
  values: OptionValues,
  now: Date,
): { name: string; scopes: string[]; expiresAt: Date | null } {
  const name = values.name as string | undefined;
  if (name === undefined) throw new CliUsageError('"create" needs --name <name>.');
  const scopes = ((values.scopes as string | undefined) ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const expires = values.expires as string | undefined;
  return { name, scopes, expiresAt: expires === undefined ? null : parseExpiry(expires, now) };
}
