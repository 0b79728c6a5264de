#!/usr/bin/env node
/**
 * `nestjs-api-key`: create, list, show and revoke API keys from a terminal, in the manner of the
 * `typeorm` CLI. It loads the application's own TypeORM DataSource file, runs its pending
 * migrations, and goes through `ApiKeyModule` and `ApiKeyService` exactly as the app does.
 *
 * Every failure is reported as one line on stderr with a non-zero exit code, and nothing is
 * written before the whole command line has been checked.
 */
import 'reflect-metadata';
import { existsSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { DynamicModule, INestApplicationContext } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import type { AbstractApiKey } from './api-key.entity.js';
import {
  ApiKeyConfigurationError,
  ApiKeyNotFoundError,
  ApiKeyStoreUnavailableError,
  ApiKeyValidationError,
} from './api-key.errors.js';
import type { ApiKeyModuleOptions } from './api-key.options.js';
import type { ApiKeyService } from './api-key.service.js';

// Nest, TypeORM and the module are imported once the command line has been checked, so a
// mistyped command is answered at once instead of after a second of module loading.
const loadRuntime = () =>
  Promise.all([
    import('@nestjs/common'),
    import('@nestjs/core'),
    import('@nestjs/typeorm'),
    import('typeorm'),
    import('./api-key.module.js'),
    import('./api-key.service.js'),
  ]).then(([common, core, nestTypeorm, typeorm, module, service]) => ({
    Module: common.Module,
    NestFactory: core.NestFactory,
    TypeOrmModule: nestTypeorm.TypeOrmModule,
    InstanceChecker: typeorm.InstanceChecker,
    ApiKeyModule: module.ApiKeyModule,
    getApiKeyServiceToken: service.getApiKeyServiceToken,
  }));
type Runtime = Awaited<ReturnType<typeof loadRuntime>>;

const PROGRAM = 'nestjs-api-key';

const USAGE = `Usage: ${PROGRAM} --data-source <file> <command> [options]

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
class CliUsageError extends Error {}

/** A failure of a well-formed command (unknown key, unreachable database...); exit code 1. */
class CliFailure extends Error {}

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

/** Where the CLI writes; each call is one line. */
export interface CliOutput {
  out(line: string): void;
  err(line: string): void;
}

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
  // The command is the first word that is not --data-source or its value.
  let command: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--data-source') i++;
    else if (!argv[i].startsWith('-')) {
      command = argv[i];
      break;
    }
  }
  if (argv.includes('--help') || argv.includes('-h') || command === 'help')
    return { command: 'help' };
  if (command === undefined)
    throw new CliUsageError(
      `No command given: use one of ${Object.keys(COMMANDS).join(', ')} (see ${PROGRAM} help).`,
    );
  const spec = COMMANDS[command];
  if (!spec)
    throw new CliUsageError(
      `Unknown command "${command}": use one of ${Object.keys(COMMANDS).join(', ')} (see ${PROGRAM} help).`,
    );

  let values: Record<string, string | boolean | undefined>;
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

  const dataSource = values['data-source'] as string | undefined;
  if (!dataSource)
    throw new CliUsageError(
      'Missing --data-source <file>: the compiled file exporting your TypeORM DataSource.',
    );
  const json = values.json === true;

  switch (command) {
    case 'create': {
      const name = values.name as string | undefined;
      if (name === undefined) throw new CliUsageError('"create" needs --name <name>.');
      const scopes = ((values.scopes as string | undefined) ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
      const expires = values.expires as string | undefined;
      return {
        command,
        dataSource,
        json,
        name,
        scopes,
        expiresAt: expires === undefined ? null : parseExpiry(expires, now),
      };
    }
    case 'list':
      return { command, dataSource, json, all: values.all === true };
    default:
      return { command: command as 'show' | 'revoke', dataSource, json, target: positionals[0] };
  }
}

/** The part of a data source file the CLI uses. */
interface LoadedDataSource {
  dataSource: DataSource;
  apiKeyOptions: ApiKeyModuleOptions<AbstractApiKey>;
}

/**
 * Imports a data source file and finds its one DataSource export (default or named, possibly a
 * promise), as the typeorm CLI does, and its optional `apiKeyOptions` export.
 *
 * @throws {CliFailure} when the file is missing, fails to load, or exports no or several DataSources
 */
async function loadDataSource(
  file: string,
  { InstanceChecker }: Runtime,
): Promise<LoadedDataSource> {
  const path = resolve(file);
  if (!existsSync(path)) throw new CliFailure(`Data source file not found: ${path}`);
  let exports: Record<string, unknown>;
  try {
    exports = await import(pathToFileURL(path).href);
  } catch (error) {
    throw new CliFailure(`Cannot load the data source file ${path}: ${oneLine(error)}`);
  }
  const found = new Set<DataSource>();
  for (const value of Object.values(exports)) {
    const candidate = await value;
    if (InstanceChecker.isDataSource(candidate)) found.add(candidate);
  }
  if (found.size !== 1) {
    throw new CliFailure(
      `The data source file ${path} must export exactly one TypeORM DataSource instance; it exports ${found.size}.`,
    );
  }
  const apiKeyOptions = (exports.apiKeyOptions ?? {}) as ApiKeyModuleOptions<AbstractApiKey>;
  if (typeof apiKeyOptions !== 'object' || apiKeyOptions === null || Array.isArray(apiKeyOptions)) {
    throw new CliFailure(
      `The apiKeyOptions export of ${path} must be the object given to ApiKeyModule.forRoot().`,
    );
  }
  return { dataSource: [...found][0], apiKeyOptions };
}

/** Wires an already initialised data source and the app's key options into Nest, for `ApiKeyService`. */
function cliModule(
  dataSource: DataSource,
  apiKeyOptions: ApiKeyModuleOptions<AbstractApiKey>,
  { Module, TypeOrmModule, ApiKeyModule }: Runtime,
): DynamicModule {
  const { dataSource: _ignored, isGlobal: _global, ...options } = apiKeyOptions;
  class ApiKeyCliModule {}
  Module({})(ApiKeyCliModule);
  return {
    module: ApiKeyCliModule,
    imports: [
      TypeOrmModule.forRootAsync({
        useFactory: () => ({ ...dataSource.options, retryAttempts: 0 }),
        dataSourceFactory: async () => dataSource,
      }),
      ApiKeyModule.forRoot(options),
    ],
  };
}

/** The first line of an error's message: the CLI never prints stack traces. */
function oneLine(error: unknown): string {
  const err = error as { message?: unknown; errors?: unknown[]; code?: unknown };
  let message = typeof err?.message === 'string' && err.message.trim() !== '' ? err.message : '';
  // Connection errors of some drivers are AggregateErrors (one per address tried) with no message.
  if (!message && Array.isArray(err?.errors) && err.errors.length > 0)
    return oneLine(err.errors[0]);
  if (!message) message = typeof err?.code === 'string' ? err.code : String(error);
  return message.split('\n')[0].trim();
}

/** Text that is safe to print on one line of a terminal: control characters are escaped. */
function printable(text: string): string {
  return text.replace(
    // eslint-disable-next-line no-control-regex -- control characters are exactly what is escaped
    /[\x00-\x1f\x7f-\x9f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

function instant(date: Date | null | undefined, none: string): string {
  return date ? date.toISOString().replace(/\.\d{3}Z$/, 'Z') : none;
}

function status(apiKey: AbstractApiKey, now: Date): 'active' | 'revoked' | 'expired' {
  if (apiKey.revoked) return 'revoked';
  return apiKey.isExpired(now) ? 'expired' : 'active';
}

/** What listings show of a key: never the key itself nor its hash. */
function describeKey(apiKey: AbstractApiKey, now: Date) {
  return {
    id: apiKey.id,
    prefix: apiKey.prefix,
    name: apiKey.name,
    scopes: apiKey.scopes,
    createdAt: apiKey.createdAt?.toISOString() ?? null,
    expiresAt: apiKey.expiresAt?.toISOString() ?? null,
    revokedAt: apiKey.revokedAt?.toISOString() ?? null,
    lastUsedAt: apiKey.lastUsedAt?.toISOString() ?? null,
    status: status(apiKey, now),
  };
}

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows.map((row) =>
    row
      .map((cell, column) => cell.padEnd(widths[column]))
      .join('  ')
      .trimEnd(),
  );
}

function howToSend(service: ApiKeyService<AbstractApiKey>): string {
  const { header, keyword } = service.options;
  return header ? `${header}: <key>` : `Authorization: ${keyword} <key>`;
}

async function execute(
  command: Exclude<CliCommand, { command: 'help' }>,
  service: ApiKeyService<AbstractApiKey>,
  output: CliOutput,
): Promise<void> {
  const now = service.options.clock();
  switch (command.command) {
    case 'create': {
      const { apiKey, key } = await service.create({
        name: command.name,
        scopes: command.scopes,
        expiresAt: command.expiresAt,
      });
      if (command.json) {
        output.out(
          JSON.stringify({
            id: apiKey.id,
            prefix: apiKey.prefix,
            name: apiKey.name,
            key,
            scopes: apiKey.scopes,
            expiresAt: apiKey.expiresAt?.toISOString() ?? null,
            createdAt: apiKey.createdAt.toISOString(),
          }),
        );
        return;
      }
      output.out(
        `Created API key "${printable(apiKey.name)}" (prefix ${apiKey.prefix}, id ${apiKey.id}).`,
      );
      output.out(
        `Scopes: ${apiKey.scopes.join(', ') || '(none)'}. Expires: ${instant(apiKey.expiresAt, 'never')}.`,
      );
      output.out('');
      output.out(`  ${key}`);
      output.out('');
      output.out(
        `This is the only time the key is shown: only its hash is stored. Clients send it as "${howToSend(service)}".`,
      );
      return;
    }
    case 'list': {
      const keys = await service.list({ activeOnly: !command.all });
      if (command.json) {
        output.out(JSON.stringify(keys.map((k) => describeKey(k, now))));
        return;
      }
      if (keys.length === 0) {
        output.out(
          command.all
            ? 'No API keys.'
            : 'No active API keys (list --all shows revoked and expired ones too).',
        );
        return;
      }
      const rows = keys.map((k) => [
        k.prefix,
        printable(k.name),
        k.scopes.join(',') || '-',
        instant(k.createdAt, '-'),
        k.expiresAt
          ? `${instant(k.expiresAt, '')}${k.isExpired(now) ? ' (expired)' : ''}`
          : 'never',
        instant(k.revokedAt, 'no'),
        instant(k.lastUsedAt, 'never'),
      ]);
      for (const line of table([
        ['PREFIX', 'NAME', 'SCOPES', 'CREATED', 'EXPIRES', 'REVOKED', 'LAST USED'],
        ...rows,
      ]))
        output.out(line);
      return;
    }
    case 'show':
    case 'revoke': {
      const before = await service.findOne(command.target);
      if (!before) throw new ApiKeyNotFoundError(command.target);
      const apiKey = command.command === 'revoke' ? await service.revoke(before.id) : before;
      if (command.json) {
        output.out(JSON.stringify(describeKey(apiKey, now)));
        return;
      }
      if (command.command === 'revoke') {
        output.out(
          before.revoked
            ? `API key ${apiKey.prefix} ("${printable(apiKey.name)}") was already revoked at ${instant(apiKey.revokedAt, '')}.`
            : `Revoked API key ${apiKey.prefix} ("${printable(apiKey.name)}"). It is refused from the next request on.`,
        );
        return;
      }
      const fields: [string, string][] = [
        ['id', apiKey.id],
        ['prefix', apiKey.prefix],
        ['name', printable(apiKey.name)],
        ['scopes', apiKey.scopes.join(', ') || '(none)'],
        ['status', status(apiKey, now)],
        ['created', instant(apiKey.createdAt, '-')],
        ['expires', instant(apiKey.expiresAt, 'never')],
        ['revoked', instant(apiKey.revokedAt, 'no')],
        ['last used', instant(apiKey.lastUsedAt, 'never')],
      ];
      for (const [label, value] of fields) output.out(`${`${label}:`.padEnd(11)}${value}`);
      return;
    }
  }
}

/**
 * Runs the CLI and returns its exit code: 0 on success, 1 when a well-formed command fails,
 * 2 for a bad command line. Failures are written as one line to `output.err`.
 */
export async function runApiKeyCli(
  argv: string[],
  output: CliOutput = processOutput,
): Promise<number> {
  let command: CliCommand;
  try {
    command = parseCommandLine(argv);
  } catch (error) {
    output.err(`${PROGRAM}: ${oneLine(error)}`);
    return 2;
  }
  if (command.command === 'help') {
    for (const line of USAGE.split('\n')) output.out(line);
    return 0;
  }

  let dataSource: DataSource | undefined;
  let app: INestApplicationContext | undefined;
  try {
    const runtime = await loadRuntime();
    const loaded = await loadDataSource(command.dataSource, runtime);
    dataSource = loaded.dataSource;
    if (!dataSource.isInitialized) {
      try {
        await dataSource.initialize();
      } catch (error) {
        throw new CliFailure(`Cannot connect to the database: ${oneLine(error)}`);
      }
    }
    try {
      await dataSource.runMigrations();
    } catch (error) {
      throw new CliFailure(`Could not run the pending migrations: ${oneLine(error)}`);
    }
    app = await runtime.NestFactory.createApplicationContext(
      cliModule(dataSource, loaded.apiKeyOptions, runtime),
      { logger: false, abortOnError: false },
    );
    const service = app.get<ApiKeyService<AbstractApiKey>>(
      runtime.getApiKeyServiceToken(loaded.apiKeyOptions.name),
    );
    await execute(command, service, output);
    return 0;
  } catch (error) {
    const known = [
      CliFailure,
      ApiKeyNotFoundError,
      ApiKeyValidationError,
      ApiKeyConfigurationError,
    ].some((type) => error instanceof type);
    const cause =
      error instanceof ApiKeyStoreUnavailableError && error.cause
        ? ` (${oneLine(error.cause)})`
        : '';
    output.err(
      `${PROGRAM}: ${known || cause ? '' : 'unexpected error: '}${oneLine(error)}${cause}`,
    );
    return 1;
  } finally {
    // Closing the context destroys the data source; without a context it is ours to destroy.
    await app?.close().catch(() => undefined);
    if (dataSource?.isInitialized) await dataSource.destroy().catch(() => undefined);
  }
}

const processOutput: CliOutput = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

function isEntryPoint(): boolean {
  if (!process.argv[1]) return false;
  try {
    // npm links bins through symlinks, so compare real paths.
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  // Piped into `head`, say: a closed stdout ends the command quietly instead of with a stack trace.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  });
  const code = await runApiKeyCli(process.argv.slice(2));
  process.exitCode = code;
  // A driver that keeps a socket open must not leave the terminal hanging once the work is done.
  setTimeout(() => process.exit(code), 2000).unref();
}
