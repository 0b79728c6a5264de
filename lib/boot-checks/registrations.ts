import { relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Provider } from '@nestjs/common';
import { ModulesContainer, type ModuleRef } from '@nestjs/core';
import type { DataSource, DataSourceOptions } from 'typeorm';
import { DEFAULT_API_KEY_NAME } from '../api-key.constants.js';
import { ApiKeyConfigurationError } from '../api-key.errors.js';
import { getApiKeyServiceToken } from '../api-key.service.js';

/** Where one `forRoot()`/`forRootAsync()` call registered a name. */
export interface ApiKeyRegistrationSite {
  name: string;
  method: 'forRoot' | 'forRootAsync';
  /** `file:line` of the call, relative to the working directory. */
  at: string;
  /** Order of the call in the process, so that the earlier of two is named first. */
  serial: number;
}

/** The library's root folder (lib/ in the repository, dist/ in the package). */
const LIBRARY_ROOT = fileURLToPath(new URL('..', import.meta.url));
let calls = 0;

/** `file:line` of a stack line's location, or `null` for a line without one. */
function locationOf(line: string): { file: string; line: string } | null {
  const match = /\(?((?:file:\/\/)?[^\s()]+?):(\d+):\d+\)?$/.exec(line.trim());
  if (!match) return null;
  const file = match[1].startsWith('file://') ? fileURLToPath(match[1]) : match[1];
  return { file, line: match[2] };
}

/** Whether a stack line's file is ApiKeyModule's own, or a dependency's, or Node's. */
function isInternal(file: string): boolean {
  if (file.startsWith('node:') || file.includes(`${sep}node_modules${sep}`)) return true;
  if (!file.startsWith(LIBRARY_ROOT)) return false;
  const own = file.slice(LIBRARY_ROOT.length).split(sep).join('/');
  return (
    own === 'api-key.module.js' ||
    own === 'api-key.module.ts' ||
    /^boot-checks\/registrations\.[jt]s$/.test(own)
  );
}

/**
 * Where the app called `forRoot()`/`forRootAsync()`: the first stack frame outside this
 * library and `node_modules`. Read once per call, at module definition, never per request.
 */
export function captureRegistrationSite(
  name: string,
  method: ApiKeyRegistrationSite['method'],
): ApiKeyRegistrationSite {
  let at = 'an unknown place';
  for (const line of (new Error().stack ?? '').split('\n').slice(1)) {
    const location = locationOf(line);
    if (!location || isInternal(location.file)) continue;
    const path = relative(process.cwd(), location.file);
    at = `${path.startsWith('..') ? location.file : path}:${location.line}`;
    break;
  }
  return { name, method, at, serial: ++calls };
}

// One table per application: ModulesContainer is made once per Nest container, so apps
// created side by side in one process (tests, say) never see each other's registrations.
const registrationsByApp = new WeakMap<ModulesContainer, Map<string, ApiKeyRegistrationSite>>();

function duplicateRegistrationError(
  first: ApiKeyRegistrationSite,
  second: ApiKeyRegistrationSite,
): ApiKeyConfigurationError {
  const [a, b] = first.serial < second.serial ? [first, second] : [second, first];
  const other = first.name === 'partner' ? 'billing' : 'partner';
  return new ApiKeyConfigurationError(
    'name',
    `"${first.name}" is registered twice, by ${a.method}() at ${a.at} and by ${b.method}() at ${b.at}; only one of them would be used.`,
    `register each key type once; use forRoot({ name: '${other}', entity: ... }) for a second key type.`,
  );
}

/**
 * Providers that record a registration's call site in its module and, when the module is
 * instantiated, refuse a second registration of the same name in the same application.
 *
 * The site is a value in the module's metadata, which also keeps Nest from folding two
 * `forRoot()` calls into one module: their providers differ only in closures, which Nest's
 * module hash does not see, so one call's options would silently replace the other's.
 */
export function registrationCheckProviders(site: ApiKeyRegistrationSite): Provider[] {
  const siteToken = `API_KEY:REGISTRATION_SITE:${site.name}`;
  return [
    { provide: siteToken, useValue: site },
    {
      provide: `API_KEY:REGISTRATION_CHECK:${site.name}`,
      useFactory: (modules: ModulesContainer, recorded: ApiKeyRegistrationSite) => {
        let registrations = registrationsByApp.get(modules);
        if (!registrations) registrationsByApp.set(modules, (registrations = new Map()));
        const earlier = registrations.get(recorded.name);
        if (earlier && earlier !== recorded) throw duplicateRegistrationError(earlier, recorded);
        registrations.set(recorded.name, recorded);
        return true;
      },
      inject: [ModulesContainer, siteToken],
    },
  ];
}

/**
 * The error of a guard whose registration's service did not reach it: the registration exists
 * but is not visible in the guard's module, or there is none.
 *
 * @param moduleRef the guard's module, to tell the two apart; without it the error names both fixes
 */
export function missingRegistrationError(
  guardName: string,
  name: string,
  moduleRef: ModuleRef | undefined,
): ApiKeyConfigurationError {
  const forRoot =
    name === DEFAULT_API_KEY_NAME
      ? 'ApiKeyModule.forRoot()'
      : `ApiKeyModule.forRoot({ name: '${name}', ... })`;
  if (!moduleRef || registeredAnywhere(moduleRef, name)) {
    return new ApiKeyConfigurationError(
      'isGlobal',
      `${guardName} is used in a module that does not import ${forRoot}, so it cannot reach the "${name}" registration.`,
      `set isGlobal: true in ${forRoot}, or import the module that calls it into the module whose controller uses ${guardName}.`,
    );
  }
  return new ApiKeyConfigurationError(
    'name',
    `${guardName} is used, but no ${forRoot} registers "${name}".`,
    `add ${forRoot} to AppModule's imports, with isGlobal: true if the guard is used in other modules.`,
  );
}

function registeredAnywhere(moduleRef: ModuleRef, name: string): boolean {
  try {
    return moduleRef.get(getApiKeyServiceToken(name), { strict: false }) !== undefined;
  } catch {
    return false;
  }
}

/**
 * The error of a registration whose TypeORM data source does not exist in the application.
 *
 * @param dataSource the registration's `dataSource` option
 */
export function missingDataSourceError(
  dataSource: DataSource | DataSourceOptions | string | undefined,
): ApiKeyConfigurationError {
  const name =
    typeof dataSource === 'string'
      ? dataSource
      : ((dataSource as { name?: string } | undefined)?.name ?? 'default');
  if (name === 'default') {
    return new ApiKeyConfigurationError(
      'dataSource',
      'ApiKeyModule needs a TypeORM data source, and the application has none.',
      'import TypeOrmModule.forRoot({ ..., autoLoadEntities: true }) from @nestjs/typeorm in AppModule, beside ApiKeyModule.forRoot().',
    );
  }
  return new ApiKeyConfigurationError(
    'dataSource',
    `there is no TypeORM data source named "${name}".`,
    `import TypeOrmModule.forRoot({ name: '${name}', ..., autoLoadEntities: true }), or set dataSource to the name of one the application has.`,
  );
}
