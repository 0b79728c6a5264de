import type { CanActivate, ExecutionContext, Type } from '@nestjs/common';
import type { Reflector } from '@nestjs/core';
import {
  API_KEY_ALTERNATIVES_METADATA,
  API_KEY_SCOPES_METADATA,
  API_KEY_SKIP_METADATA,
  DEFAULT_API_KEY_NAME,
} from '../api-key.constants.js';
import { API_KEY_SKIP_USAGE_METADATA } from '../policies/decorators.js';

/** What a route's decorators ask of the API key guard of one registration. */
export interface RouteRules {
  /** `@SkipApiKey()` naming this guard's registration: the guard lets the route through. */
  readonly skip: boolean;
  /** `@RequireScopes()`: scopes the key must hold all of. */
  readonly scopes: string[];
  /** `@AllowApiKeyOr()`: guards that let a request in without a key. */
  readonly alternatives: Type<CanActivate>[];
  /** `@SkipApiKeyUsage()`: an accepted request spends none of a usage-limited key's credits. */
  readonly skipUsage: boolean;
}

/**
 * The registrations a `@SkipApiKey()` metadata value skips: `true` is the default registration,
 * a list names registrations, and `false` or nothing skips none.
 */
export function skippedRegistrations(skip: unknown): readonly string[] {
  if (skip === true) return [DEFAULT_API_KEY_NAME];
  return Array.isArray(skip) ? skip : [];
}

/**
 * Reads a route's `@SkipApiKey()`, `@RequireScopes()`, `@AllowApiKeyOr()` and `@SkipApiKeyUsage()`
 * metadata; for each,
 * method metadata overrides class metadata.
 *
 * @param handler the route's method
 * @param owner the controller class the route is served from
 * @param registration the registration of the guard asking: a skip naming another one is not its
 */
export function readRouteRules(
  reflector: Reflector,
  handler: Function,
  owner: Type,
  registration: string = DEFAULT_API_KEY_NAME,
): RouteRules {
  const targets = [handler, owner];
  return {
    skip: skippedRegistrations(
      reflector.getAllAndOverride<unknown>(API_KEY_SKIP_METADATA, targets),
    ).includes(registration),
    scopes: reflector.getAllAndOverride<string[]>(API_KEY_SCOPES_METADATA, targets) ?? [],
    alternatives:
      reflector.getAllAndOverride<Type<CanActivate>[]>(API_KEY_ALTERNATIVES_METADATA, targets) ??
      [],
    // A hand-made context may have no class, whose metadata cannot be asked for.
    skipUsage:
      reflector.getAllAndOverride<boolean>(
        API_KEY_SKIP_USAGE_METADATA,
        owner ? targets : [handler],
      ) === true,
  };
}

/**
 * A value worked out from a route's handler and class on its first request and kept per
 * controller class, then handler (one handler can serve several classes by inheritance, each
 * with its own class metadata). Decorators are applied when classes are defined, so the value
 * cannot change afterwards, and working it out once keeps metadata lookups off the per-request
 * path, as Nest does for guards.
 */
export class RouteMemo<V> {
  private readonly byClass = new WeakMap<object, WeakMap<object, V>>();

  constructor(private readonly read: (handler: Function, owner: Type) => V) {}

  /** The value for the route a context is running. */
  get(context: ExecutionContext): V {
    const handler = context.getHandler();
    const owner = context.getClass();
    let byHandler = owner ? this.byClass.get(owner) : undefined;
    let value = handler ? byHandler?.get(handler) : undefined;
    if (value === undefined) {
      value = this.read(handler, owner);
      // A context without a handler or class (a hand-made one) has nothing to key the value by.
      if (handler && owner) {
        if (!byHandler) this.byClass.set(owner, (byHandler = new WeakMap()));
        byHandler.set(handler, value);
      }
    }
    return value;
  }
}

/** Route rules of one registration's guard, read once per handler and class (see `RouteMemo`). */
export class RouteRulesCache extends RouteMemo<RouteRules> {
  constructor(reflector: Reflector, registration: string = DEFAULT_API_KEY_NAME) {
    super((handler, owner) => readRouteRules(reflector, handler, owner, registration));
  }
}
