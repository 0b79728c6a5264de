#!/usr/bin/env node
/**
 * `nestjs-api-key`: create, list, show and revoke API keys from a terminal, in the manner of the
 * `typeorm` CLI. It loads the application's own TypeORM DataSource file, runs its pending
 * migrations, and builds its `ApiKeyService` with `wireApiKeys`, the checks and defaults
 * `ApiKeyModule` applies.
 *
 * Every failure is reported as one line on stderr with a non-zero exit code, and nothing is
 * written before the whole command line has been checked.
 */
import 'reflect-metadata';
import { existsSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { DataSource } from 'typeorm';
import { PROGRAM, USAGE, parseCommandLine, type CliCommand } from './api-key.cli-args.js';
import { runCommand, type CliOutput } from './api-key.cli-commands.js';
import type { AbstractApiKey } from './api-key.entity.js';
import {
  ApiKeyConfigurationError,
  ApiKeyNotFoundError,
  ApiKeyStoreUnavailableError,
  ApiKeyValidationError,
} from './api-key.errors.js';
import type { ApiKeyModuleOptions } from './api-key.options.js';
import type { ApiKeyService } from './api-key.service.js';

export type { CliCommand } from './api-key.cli-args.js';
export type { CliOutput } from './api-key.cli-commands.js';

// TypeORM and the key service are imported once the command line has been checked, so a
// mistyped command is answered at once instead of after they have loaded.
const loadRuntime = () =>
  Promise.all([import('typeorm'), import('./api-key.wiring.js')]).then(([typeorm, wiring]) => ({
    InstanceChecker: typeorm.InstanceChecker,
    wireApiKeys: wiring.wireApiKeys,
  }));
type Runtime = Awaited<ReturnType<typeof loadRuntime>>;

/** A failure of a well-formed command (unknown key, unreachable database...); exit code 1. */
class CliFailure extends Error {}

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
    const { runMigrationsLocked } = await import('./api-key.migrations-lock.js');
    await runMigrationsLocked(dataSource);
  } catch (error) {
    throw new CliFailure(`Could not run the pending migrations: ${oneLine(error)}`);
  }
}

/**
 * The application's key service over the loaded data source. Where keys live is the file's
 * DataSource, so the module-only `dataSource` and `isGlobal` options are not used.
 *
 * @throws {ApiKeyConfigurationError} naming the option of `apiKeyOptions` at fault
 */
function keyService(
  { dataSource, apiKeyOptions }: LoadedDataSource,
  { wireApiKeys }: Runtime,
): ApiKeyService<AbstractApiKey> {
  const { dataSource: _where, isGlobal: _global, name, entity, ...options } = apiKeyOptions;
  return wireApiKeys({ dataSource, options, name, entity }).service;
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
  let service: ApiKeyService<AbstractApiKey> | undefined;
  try {
    const runtime = await loadRuntime();
    const loaded = await loadDataSource(command.dataSource, runtime);
    dataSource = loaded.dataSource;
    await prepareDatabase(dataSource);
    service = keyService(loaded, runtime);
    await runCommand(command, service, output);
    return 0;
  } catch (error) {
    output.err(failureLine(error));
    return 1;
  } finally {
    // What Nest's shutdown would do: pending last-use marks first, then the connection.
    await service?.beforeApplicationShutdown().catch(() => undefined);
    if (dataSource?.isInitialized) await dataSource.destroy().catch(() => undefined);
  }
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
