/**
 * How the `nestjs-api-key` CLI reads an application's data source file: its one DataSource,
 * whatever module system it was compiled to, and its optional `apiKeyOptions`.
 */
import { existsSync } from 'node:fs';
import { basename, extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { DataSource } from 'typeorm';
import { PROGRAM } from './args.js';
import { CliFailure, oneLine } from './errors.js';
import type { AbstractApiKey } from '../api-key.entity.js';
import type { ApiKeyModuleOptions } from '../api-key.options.js';

/** The part of a data source file the CLI uses. */
export interface LoadedDataSource {
  /** The file's absolute path. */
  path: string;
  dataSource: DataSource;
  /** The file's `apiKeyOptions` export, or `{}`. */
  apiKeyOptions: ApiKeyModuleOptions<AbstractApiKey>;
  /** Whether the file exports `apiKeyOptions` at all. */
  exportsApiKeyOptions: boolean;
}

/**
 * Imports a data source file and finds its one DataSource export, as the typeorm CLI does:
 * ESM default or named exports, CommonJS `module.exports = dataSource`, `exports.default` (ESM
 * compiled to CommonJS) or named exports, each possibly a promise. Also reads `apiKeyOptions`.
 *
 * @param isDataSource TypeORM's check, which holds across copies of the typeorm package
 * @throws {CliFailure} when the file is missing, fails to load, or exports no or several DataSources
 */
export async function loadDataSource(
  file: string,
  isDataSource: (value: unknown) => boolean,
): Promise<LoadedDataSource> {
  const path = resolve(file);
  if (!existsSync(path)) throw new CliFailure(`Data source file not found: ${path}`);
  let namespace: Record<string, unknown>;
  try {
    namespace = await import(pathToFileURL(path).href);
  } catch (error) {
    throw new CliFailure(`Cannot load the data source file ${path}: ${loadFailure(path, error)}`);
  }
  const exported = exportObjects(namespace);
  const found = new Set<DataSource>();
  for (const value of exported.flatMap((exports) => Object.values(exports))) {
    const candidate = await value;
    if (isDataSource(candidate)) found.add(candidate as DataSource);
  }
  if (found.size !== 1) {
    throw new CliFailure(
      `The data source file ${path} must export exactly one TypeORM DataSource instance; it exports ${found.size}.`,
    );
  }
  const holder = exported.find((exports) => exports.apiKeyOptions !== undefined);
  const apiKeyOptions = (holder?.apiKeyOptions ?? {}) as ApiKeyModuleOptions<AbstractApiKey>;
  if (typeof apiKeyOptions !== 'object' || apiKeyOptions === null || Array.isArray(apiKeyOptions)) {
    throw new CliFailure(
      `The apiKeyOptions export of ${path} must be the object given to ApiKeyModule.forRoot().`,
    );
  }
  return { path, dataSource: [...found][0], apiKeyOptions, exportsApiKeyOptions: !!holder };
}

/**
 * The objects whose properties are the file's exports. Node gives a CommonJS file's
 * `module.exports` as its default export, so what TypeScript compiles `export default` to
 * (`exports.default = ...`) and CommonJS named exports are one level down.
 */
function exportObjects(namespace: Record<string, unknown>): Record<string, unknown>[] {
  const fallback = namespace.default;
  const prototype = typeof fallback === 'object' && fallback && Object.getPrototypeOf(fallback);
  const plain = prototype === Object.prototype || prototype === null;
  return plain ? [namespace, fallback as Record<string, unknown>] : [namespace];
}

/** Why a file could not be loaded, with the fix when it is TypeScript that Node cannot run. */
function loadFailure(path: string, error: unknown): string {
  const code = (error as { code?: unknown })?.code;
  if (code !== 'ERR_UNKNOWN_FILE_EXTENSION' || !/^\.[cm]?ts$/.test(extname(path)))
    return oneLine(error);
  const compiled = `dist/${basename(path, extname(path))}.js`;
  // Node's own type stripping cannot run the decorators TypeORM entities use, so tsx is the loader named.
  return `Node cannot run TypeScript here: compile it (tsc) and pass the .js file it makes (e.g. --data-source ${compiled}), or run the CLI with a loader: NODE_OPTIONS="--import tsx" npx ${PROGRAM} ...`;
}

/** The hint printed when keys were made with the defaults because the file exports no `apiKeyOptions`. */
export function defaultOptionsHint(path: string): string {
  return `${PROGRAM}: note: no apiKeyOptions exported from ${path}: keys use the defaults (no brand, bcrypt). If your app configures brand, hasher or entity, export the same options as apiKeyOptions (export const apiKeyOptions = {} confirms the defaults).`;
}

/**
 * Gives a PostgreSQL, MySQL or MariaDB data source that sets no connect timeout one of `ms`, so
 * a server that accepts connections but never answers is given up on by the driver too.
 */
export function boundConnect(dataSource: DataSource, ms: number): void {
  if (dataSource.isInitialized || ms === 0) return;
  const options = dataSource.options as {
    type: string;
    connectTimeoutMS?: number;
    connectTimeout?: number;
  };
  if (options.type === 'postgres' && options.connectTimeoutMS === undefined)
    dataSource.setOptions({ connectTimeoutMS: ms });
  if (/^(mysql|mariadb)$/.test(options.type) && options.connectTimeout === undefined)
    dataSource.setOptions({ connectTimeout: ms });
}

/** Where a data source's database is, for messages: host and port, or file; never credentials. */
export function databaseAddress(dataSource: DataSource | undefined): string {
  if (!dataSource) return 'the data source';
  const options = dataSource.options as {
    type: string;
    url?: string;
    host?: string;
    port?: number;
    database?: unknown;
  };
  if (options.url) {
    try {
      return new URL(options.url).host || options.type;
    } catch {
      return options.type;
    }
  }
  if (options.host !== undefined || options.port !== undefined)
    return `${options.host ?? 'localhost'}${options.port ? `:${options.port}` : ''}`;
  return typeof options.database === 'string' ? options.database : options.type;
}
