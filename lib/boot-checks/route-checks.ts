import { API_KEY_SKIP_USAGE_METADATA } from '../policies/decorators.js';
import type { Type } from '@nestjs/common';
import { GUARDS_METADATA } from '@nestjs/common/constants.js';
import type { Reflector } from '@nestjs/core';
import {
  API_KEY_ALTERNATIVES_METADATA,
  API_KEY_SCOPES_METADATA,
  API_KEY_SKIP_METADATA,
  DEFAULT_API_KEY_NAME,
} from '../api-key.constants.js';
import { ApiKeyConfigurationError } from '../api-key.errors.js';
import { registrationOfGuard } from '../guards/factory.js';
import { declaredKeyGuards, ImplicitApiKeyGuard, isImplicit } from '../guards/implicit.js';
import { skippedRegistrations } from '../request/route-rules.js';

/** An API key guard that runs on a route, as the route scanner sees it. */
export interface KeyGuardOnRoute {
  /** The class or instance, as listed in `@UseGuards()` or among the global guards. */
  readonly guard: unknown;
  readonly registration: string;
  /** The guard `@AllowApiKeyOr()` applies, which stands aside for another registration's guard. */
  readonly implicit?: boolean;
}

/** A route handler: an HTTP route, a GraphQL query or mutation, or a WebSocket message handler. */
export interface ScannedRoute {
  readonly owner: Type;
  readonly handler: Function;
  /** `Controller.method`, as error messages name it. */
  readonly label: string;
}

/** What the route's API key decorators ask for, method metadata over class metadata. */
export interface RouteDecorators {
  readonly skipped: readonly string[];
  readonly scopes: string[];
  readonly alternatives: unknown[];
  /** `@SkipApiKeyUsage()`: the route spends no credits, so it never answers 429 for them. */
  readonly skipUsage?: boolean;
}

const quoted = (names: Iterable<string>) => [...names].map((name) => `"${name}"`).join(', ');
const guardName = (guard: unknown) =>
  typeof guard === 'function' ? guard.name : (guard as object).constructor.name;

/**
 * Refuses a route whose API key decorators do not do what they say: a scope or an alternative no
 * guard checks, a skip naming no guard of the route, a guard skipped where it is declared, or an
 * OR that cannot be met with one key.
 *
 * @param globals the application's global API key guards
 * @throws {ApiKeyConfigurationError} naming the route and the fix
 */
export function checkRoute(
  route: ScannedRoute,
  globals: readonly KeyGuardOnRoute[],
  reflector: Reflector,
): void {
  const { decorators, guards, checking } = keyGuardsOnRoute(route, globals, reflector);
  refuseSkipOfNoGuard(route, decorators, guards);
  refuseSkipWhereDeclared(route, decorators);
  refuseUnchecked(route, decorators, guards, checking);
  refuseUnmeetableOr(route, decorators, checking);
}

/** The API key guards of a route, and what its decorators ask of them. */
export interface KeyGuardsOfRoute {
  readonly decorators: RouteDecorators;
  /** Every API key guard that runs on the route: the global ones, then those it declares. */
  readonly guards: readonly KeyGuardOnRoute[];
  /** Those of `guards` that check a key here: not skipped, and not standing aside. */
  readonly checking: readonly KeyGuardOnRoute[];
}

/**
 * Works out which API key guards run on a route and which of them check a key there, as the
 * guards themselves will at request time; the boot-time checks and the OpenAPI document both
 * read routes through this.
 *
 * @param globals the application's global API key guards
 */
export function keyGuardsOnRoute(
  route: ScannedRoute,
  globals: readonly KeyGuardOnRoute[],
  reflector: Reflector,
): KeyGuardsOfRoute {
  const { owner, handler } = route;
  const targets = [handler, owner];
  const decorators: RouteDecorators = {
    skipped: skippedRegistrations(reflector.getAllAndOverride(API_KEY_SKIP_METADATA, targets)),
    scopes: reflector.getAllAndOverride<string[]>(API_KEY_SCOPES_METADATA, targets) ?? [],
    alternatives:
      reflector.getAllAndOverride<unknown[]>(API_KEY_ALTERNATIVES_METADATA, targets) ?? [],
    skipUsage: reflector.getAllAndOverride(API_KEY_SKIP_USAGE_METADATA, targets) === true,
  };
  const declared = declaredKeyGuards(handler, owner);
  const implicit = guardsListed(owner, handler).some(isImplicit);
  const guards: KeyGuardOnRoute[] = [...globals, ...declared];
  if (implicit)
    guards.push({ guard: ImplicitApiKeyGuard, registration: DEFAULT_API_KEY_NAME, implicit: true });
  const standsAside = declared.some((entry) => entry.registration !== DEFAULT_API_KEY_NAME);
  const checking = guards.filter(
    (entry) => !decorators.skipped.includes(entry.registration) && !(entry.implicit && standsAside),
  );
  return { decorators, guards, checking };
}

function guardsListed(owner: Type, handler: Function): unknown[] {
  return [
    ...(Reflect.getMetadata(GUARDS_METADATA, owner) ?? []),
    ...(Reflect.getMetadata(GUARDS_METADATA, handler) ?? []),
  ];
}

/** `@SkipApiKey(name)` where no guard of that registration runs: it would do nothing. */
function refuseSkipOfNoGuard(
  route: ScannedRoute,
  { skipped }: RouteDecorators,
  guards: readonly KeyGuardOnRoute[],
): void {
  const present = new Set(guards.map((entry) => entry.registration));
  const idle = skipped.filter((name) => !present.has(name));
  if (idle.length === 0) return;
  const form = idle.length === 1 && idle[0] === DEFAULT_API_KEY_NAME ? '()' : `(${quoted(idle)})`;
  throw new ApiKeyConfigurationError(
    '@SkipApiKey()',
    `@SkipApiKey${form} on ${route.label} skips the guard of registration ${quoted(idle)}, but no such guard protects this route, so it does nothing (a guard honours only a skip naming its own registration).`,
    present.size > 0
      ? `name a registration whose guard runs here (${quoted(present)}), e.g. @SkipApiKey('${[...present][0]}'), or remove it.`
      : 'remove @SkipApiKey(): no API key guard runs on this route.',
  );
}

/** `@UseGuards(G)` and a `@SkipApiKey()` skipping G on the same method or class. */
function refuseSkipWhereDeclared(route: ScannedRoute, { skipped }: RouteDecorators): void {
  if (skipped.length === 0) return;
  const onMethod = Reflect.getMetadata(API_KEY_SKIP_METADATA, route.handler) !== undefined;
  const listed: unknown[] =
    Reflect.getMetadata(GUARDS_METADATA, onMethod ? route.handler : route.owner) ?? [];
  const contradicted = listed.filter(
    (guard) => !isImplicit(guard) && skipped.includes(registrationOfGuard(guard) ?? ''),
  );
  if (contradicted.length === 0) return;
  throw new ApiKeyConfigurationError(
    '@SkipApiKey()',
    `${route.label} declares @UseGuards(${contradicted.map(guardName).join(', ')}) and skips it with @SkipApiKey() on the same ${onMethod ? 'method' : 'class'}, so the route is open although it reads as protected.`,
    'remove one of the two (to open one method of a protected controller, put @SkipApiKey() on that method).',
  );
}

/** `@RequireScopes()` or `@AllowApiKeyOr()` where no API key guard checks the request. */
function refuseUnchecked(
  route: ScannedRoute,
  { scopes, alternatives }: RouteDecorators,
  guards: readonly KeyGuardOnRoute[],
  checking: readonly KeyGuardOnRoute[],
): void {
  if (checking.length > 0 || (scopes.length === 0 && alternatives.length === 0)) return;
  if (guards.length > 0 && opensItselfOutOfItsClass(route)) return;
  const decorator = scopes.length > 0 ? '@RequireScopes()' : '@AllowApiKeyOr()';
  const asks =
    scopes.length > 0
      ? `requires scope ${quoted(scopes)}`
      : `offers ${alternatives.map(guardName).join(', ')} as an alternative to a key`;
  throw new ApiKeyConfigurationError(
    decorator,
    guards.length === 0
      ? `${route.label} ${asks}, but no API key guard protects it, so the route is open to anyone.`
      : `${route.label} ${asks}, but @SkipApiKey() skips every API key guard of it (${quoted(new Set(guards.map((entry) => entry.registration)))}), so the route is open to anyone.`,
    guards.length === 0
      ? `add @UseGuards(ApiKeyGuard) (or your registration's createApiKeyGuard(name)) to ${route.label} or its controller, or register ApiKeyGuard as APP_GUARD; or remove ${decorator}.`
      : `remove @SkipApiKey() from ${route.label}, or remove ${decorator}.`,
  );
}

/**
 * Whether a method's own `@SkipApiKey()` opens it inside a controller whose scopes or
 * alternatives it does not restate: a method opened on purpose, not a requirement left unchecked.
 */
function opensItselfOutOfItsClass({ handler }: ScannedRoute): boolean {
  return (
    Reflect.getMetadata(API_KEY_SKIP_METADATA, handler) !== undefined &&
    Reflect.getMetadata(API_KEY_SCOPES_METADATA, handler) === undefined &&
    Reflect.getMetadata(API_KEY_ALTERNATIVES_METADATA, handler) === undefined
  );
}

/** An OR whose key side is several registrations at once, or lists its own key guard again. */
function refuseUnmeetableOr(
  route: ScannedRoute,
  { alternatives }: RouteDecorators,
  checking: readonly KeyGuardOnRoute[],
): void {
  if (alternatives.length === 0) return;
  const registrations = new Set(checking.map((entry) => entry.registration));
  if (registrations.size > 1) {
    throw new ApiKeyConfigurationError(
      '@AllowApiKeyOr()',
      `${route.label} offers ${alternatives.map(guardName).join(', ')} as an alternative to a key, but keys of ${quoted(registrations)} are all required there (one guard each), so a single key can never get in.`,
      `skip all but one of them: @SkipApiKey(${[...registrations]
        .slice(0, -1)
        .map((name) => `'${name}'`)
        .join(
          ', ',
        )}) keeps ${quoted([...registrations].slice(-1))}; or, to let in a key of either, list the other registration's guard in @AllowApiKeyOr().`,
    );
  }
  const keySide = new Set(checking.map((entry) => guardClass(entry.guard)));
  const repeated = alternatives.filter((guard) => keySide.has(guard as Function));
  if (repeated.length > 0) {
    throw new ApiKeyConfigurationError(
      '@AllowApiKeyOr()',
      `${route.label} offers ${repeated.map(guardName).join(', ')} as an alternative to itself, which asks for nothing more.`,
      `remove ${repeated.map(guardName).join(', ')} from @AllowApiKeyOr().`,
    );
  }
}

function guardClass(guard: unknown): unknown {
  return typeof guard === 'function' ? guard : (guard as object).constructor;
}
