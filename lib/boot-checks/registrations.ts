import { relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Provider, Type } from '@nestjs/common';
import { GUARDS_METADATA } from '@nestjs/common/constants.js';
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

/** This file and the module's, whose frames stand between the app's call and the stack's capture. */
const OWN_FILES = [
  fileURLToPath(import.meta.url),
  fileURLToPath(new URL('../api-key.module.js', import.meta.url)),
].map((file) => file.replace(/\.[jt]s$/, ''));
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
  return OWN_FILES.includes(file.replace(/\.[jt]s$/, ''));
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

/** Prefix of the token of a registration's call site, one per `forRoot()`/`forRootAsync()`. */
const REGISTRATION_SITE_TOKEN = 'API_KEY:REGISTRATION_SITE:';

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
  const siteToken = `${REGISTRATION_SITE_TOKEN}${site.name}`;
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
 * but is not visible in the guard's module, or there is none. Names the module and the
 * controllers using the guard when it can find them, and the usual wrong guess, importing
 * `ApiKeyModule` itself there, when that module made it.
 *
 * @param moduleRef the guard's module, to tell the two apart; without it the error names both fixes
 * @param guard the guard instance, to find the module and controllers that use it
 */
export function missingRegistrationError(
  guardName: string,
  name: string,
  moduleRef: ModuleRef | undefined,
  guard?: object,
): ApiKeyConfigurationError {
  const forRoot =
    name === DEFAULT_API_KEY_NAME
      ? 'ApiKeyModule.forRoot()'
      : `ApiKeyModule.forRoot({ name: '${name}', ... })`;
  const place = moduleRef && guard ? placeOfGuard(guard, moduleRef) : undefined;
  const usedIn = place
    ? `${place.module}${place.controllers.length > 0 ? ` (by ${place.controllers.join(', ')})` : ''}`
    : 'a module';
  const plainImport = place?.importsPlainModule
    ? ` ${place.module} imports ApiKeyModule itself, which registers nothing: keys are registered once, by ${forRoot}.`
    : '';
  const target = place?.module ?? 'the module whose controller uses ' + guardName;
  if (!moduleRef || registeredAnywhere(moduleRef, name)) {
    return new ApiKeyConfigurationError(
      'isGlobal',
      `${guardName} is used in ${usedIn}, which does not import ${forRoot}, so it cannot reach the "${name}" registration.${plainImport}`,
      `set isGlobal: true in ${forRoot}, or import the module that calls it into ${target}${plainImport ? ' instead of ApiKeyModule' : ''}.`,
    );
  }
  return new ApiKeyConfigurationError(
    'name',
    `${guardName} is used${place ? ` in ${usedIn}` : ''}, but no ${forRoot} registers "${name}".${plainImport}`,
    `add ${forRoot} to AppModule's imports, with isGlobal: true if the guard is used in other modules.`,
  );
}

/** The module holding a guard instance, the controllers there that list its class, and its imports' mistake. */
function placeOfGuard(
  guard: object,
  moduleRef: ModuleRef,
): { module: string; controllers: string[]; importsPlainModule: boolean } | undefined {
  let modules: ModulesContainer;
  try {
    modules = moduleRef.get(ModulesContainer, { strict: false });
  } catch {
    return undefined;
  }
  for (const module of modules.values()) {
    const wrappers = [...module.injectables.values(), ...module.providers.values()];
    if (!wrappers.some((wrapper) => wrapper.instance === guard)) continue;
    const controllers = [...module.controllers.values()]
      .map((wrapper) => wrapper.metatype)
      .filter((controller): controller is Type => listsGuard(controller, guard.constructor))
      .map((controller) => controller.name);
    // Nest keeps ApiKeyModule's class as the metatype of every import of it; a plain import
    // is the one that registers nothing.
    const importsPlainModule = [...module.imports].some(
      (imported) =>
        imported.metatype?.name === 'ApiKeyModule' &&
        ![...imported.providers.keys()].some(
          (token) => typeof token === 'string' && token.startsWith(REGISTRATION_SITE_TOKEN),
        ),
    );
    return { module: module.metatype.name, controllers, importsPlainModule };
  }
  return undefined;
}

/** Whether a controller lists a guard class in `@UseGuards()`, on itself or a method. */
function listsGuard(controller: Type | Function | null | undefined, guardClass: Function): boolean {
  if (typeof controller !== 'function') return false;
  const prototype = controller.prototype as Record<string, unknown>;
  const targets: object[] = [
    controller,
    ...Object.getOwnPropertyNames(prototype)
      .map((key) => prototype[key])
      .filter((member): member is Function => typeof member === 'function'),
  ];
  return targets.some((target) =>
    ((Reflect.getMetadata(GUARDS_METADATA, target) as unknown[] | undefined) ?? []).some(
      (listed) => listed === guardClass || (listed as object)?.constructor === guardClass,
    ),
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
