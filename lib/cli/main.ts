#!/usr/bin/env node
/**
 * `nestjs-api-key`: create, list, show, revoke and rotate API keys from a terminal, in the
 * manner of the `typeorm` CLI. It loads the application's own TypeORM DataSource file, runs its
 * pending migrations, and builds its `ApiKeyService` with `wireApiKeys`, the checks and
 * defaults `ApiKeyModule` applies.
 *
 * Every failure is reported as one line on stderr with a non-zero exit code, and nothing is
 * written before the whole command line has been checked. A database that does not answer is
 * given up on after `--timeout`, so the CLI never hangs a terminal or a deploy script.
 */
import 'reflect-metadata';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { DataSource } from 'typeorm';
import {
  DEFAULT_TIMEOUT_MS,
  PROGRAM,
  USAGE,
  parseCommandLine,
  type CliCommand,
  type CliDatabaseCommand,
} from './args.js';
import { runCommand } from './commands.js';
import type { CliKeyStore, CliOutput } from './context.js';
import {
  boundConnect,
  databaseAddress,
  defaultOptionsHint,
  loadDataSource,
  type LoadedDataSource,
} from './data-source.js';
import { CliFailure, oneLine } from './errors.js';
import { printable } from './format.js';
import { readableDuration } from './values.js';
import {
  ApiKeyConfigurationError,
  ApiKeyNotFoundError,
  ApiKeyStoreUnavailableError,
  ApiKeyValidationError,
} from '../api-key.errors.js';
import type { AbstractApiKey } from '../api-key.entity.js';
import type { ApiKeyService } from '../api-key.service.js';

export type { CliCommand } from './args.js';
export type { CliOutput } from './context.js';

// TypeORM and the key service are imported once the command line has been checked, so a
// mistyped command is answered at once instead of after they have loaded.
const loadRuntime = () =>
  Promise.all([import('typeorm'), import('../api-key.wiring.js')]).then(([typeorm, wiring]) => ({
    InstanceChecker: typeorm.InstanceChecker,
    wireApiKeys: wiring.wireApiKeys,
  }));
type Runtime = Awaited<ReturnType<typeof loadRuntime>>;

/**
 * Connects the data source unless the file already did, and runs its pending migrations.
 *
 * @throws {CliFailure} when the database cannot be reached or a migration fails
 */
async function prepareDatabase(dataSource: DataSource): Promise<void> {
  if (!dataSource.isInitialized) {
    try {
      await dataSource.initialize();
    } catch (error) {
      throw new CliFailure(`Cannot connect to the database: ${oneLine(error)}`);
    }
  }
  try {
    // Locked, so that commands started together on an empty database do not race to create it.
    const { runMigrationsLocked } = await import('../schema/lock.js');
    await runMigrationsLocked(dataSource);
  } catch (error) {
    throw new CliFailure(`Could not run the pending migrations: ${oneLine(error)}`);
  }
}

/**
 * The application's key service over the loaded data source, and its entity's metadata. Where
 * keys live is the file's DataSource, so the module-only `dataSource` and `isGlobal` options
 * are not used.
 *
 * @throws {ApiKeyConfigurationError} naming the option of `apiKeyOptions` at fault
 */
function keyStore(
  { dataSource, apiKeyOptions }: LoadedDataSource,
  { wireApiKeys }: Runtime,
): CliKeyStore {
  const { dataSource: _where, isGlobal: _global, name, entity, ...options } = apiKeyOptions;
  const { service, repository } = wireApiKeys({ dataSource, options, name, entity });
  return { service, metadata: repository.metadata };
}

/** The one line reporting a failure of a well-formed command. */
function failureLine(error: unknown): string {
  const known = [
    CliFailure,
    ApiKeyNotFoundError,
    ApiKeyValidationError,
    ApiKeyConfigurationError,
  ].some((type) => error instanceof type);
  const cause =
    error instanceof ApiKeyStoreUnavailableError && error.cause ? ` (${oneLine(error.cause)})` : '';
  return `${PROGRAM}: ${known || cause ? '' : 'unexpected error: '}${oneLine(error)}${cause}`;
}

/**
 * Runs the CLI and returns its exit code: 0 on success, 1 when a well-formed command fails,
 * 2 for a bad command line. Failures are written as one line to `output.err`.
 */
export async function runApiKeyCli(
  argv: string[],
  terminal: CliOutput = processOutput,
): Promise<number> {
  // Every line is escaped on its way out, whatever it echoes (a key's name, an argument): JSON
  // lines are already escaped by printableJson, which leaves nothing for this to change.
  const output: CliOutput = {
    out: (line) => terminal.out(printable(line)),
    err: (line) => terminal.err(printable(line)),
  };
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

  const timeoutMs = command.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const run: DatabaseRun = { output, timeoutMs, finished: false };
  const code = await withDeadline(runDatabaseCommand(command, run), timeoutMs);
  run.finished = true;
  if (code !== undefined) return code;
  output.err(
    `${PROGRAM}: the database did not answer within ${readableDuration(timeoutMs)}: ${databaseAddress(run.dataSource)} (a slow one may need a longer --timeout).`,
  );
  return 1;
}

/** One run of a database command, as its deadline sees it. */
interface DatabaseRun {
  output: CliOutput;
  timeoutMs: number;
  /** Set once the run has been answered: a command still going after its deadline stays quiet. */
  finished: boolean;
  dataSource?: DataSource;
}

/**
 * Loads the data source, prepares the database and runs the command; its exit code: 0, or 1
 * with the failure written as one line.
 */
async function runDatabaseCommand(command: CliDatabaseCommand, run: DatabaseRun): Promise<number> {
  const output: CliOutput = {
    out: (line) => run.finished || run.output.out(line),
    err: (line) => run.finished || run.output.err(line),
  };
  let service: ApiKeyService<AbstractApiKey> | undefined;
  try {
    const runtime = await loadRuntime();
    const loaded = await loadDataSource(command.dataSource, (value) =>
      runtime.InstanceChecker.isDataSource(value),
    );
    const dataSource = (run.dataSource = loaded.dataSource);
    boundConnect(dataSource, run.timeoutMs);
    await prepareDatabase(dataSource);
    const store = keyStore(loaded, runtime);
    service = store.service;
    await runCommand(command, store, output);
    // Only once the key is out, so that a failure stays the one line on stderr.
    if (
      !loaded.exportsApiKeyOptions &&
      (command.command === 'create' || command.command === 'rotate')
    )
      output.err(defaultOptionsHint(loaded.path));
    return 0;
  } catch (error) {
    output.err(failureLine(error));
    return 1;
  } finally {
    // What Nest's shutdown would do: pending last-use marks first, then the connection.
    await service?.beforeApplicationShutdown().catch(() => undefined);
    if (run.dataSource?.isInitialized) await run.dataSource.destroy().catch(() => undefined);
  }
}

/** What `work` resolves to, or `undefined` if it takes more than `ms` (0: no deadline). */
async function withDeadline<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  if (ms === 0) return work;
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
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
