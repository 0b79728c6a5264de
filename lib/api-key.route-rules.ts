import type { CanActivate, ExecutionContext, Type } from '@nestjs/common';
import type { Reflector } from '@nestjs/core';
import {
  API_KEY_ALTERNATIVES_METADATA,
  API_KEY_SCOPES_METADATA,
  API_KEY_SKIP_METADATA,
} from './api-key.constants.js';

/** What a route's decorators ask of the API key guard. */
export interface RouteRules {
  /** `@SkipApiKey()`: the route is open. */
  readonly skip: boolean;
  /** `@RequireScopes()`: scopes the key must hold all of. */
  readonly scopes: string[];
  /** `@AllowApiKeyOr()`: guards that let a request in without a key. */
  readonly alternatives: Type<CanActivate>[];
}

/**
 * Reads a route's `@SkipApiKey()`, `@RequireScopes()` and `@AllowApiKeyOr()` metadata; for each,
 * method metadata overrides class metadata.
 *
 * @param handler the route's method
 * @param owner the controller class the route is served from
 */
export function readRouteRules(reflector: Reflector, handler: Function, owner: Type): RouteRules {
  const targets = [handler, owner];
  return {
    skip: reflector.getAllAndOverride<boolean>(API_KEY_SKIP_METADATA, targets) === true,
    scopes: reflector.getAllAndOverride<string[]>(API_KEY_SCOPES_METADATA, targets) ?? [],
    alternatives:
      reflector.getAllAndOverride<Type<CanActivate>[]>(API_KEY_ALTERNATIVES_METADATA, targets) ??
      [],
  };
}

/**
 * Route rules read on a route's first request and kept per controller class, then handler (one
 * handler can serve several classes by inheritance, each with its own class metadata).
 * Decorators are applied when classes are defined, so the rules cannot change afterwards, and
 * reading them once keeps reflector lookups off the per-request path, as Nest does for guards.
 */
export class RouteRulesCache {
  private readonly rulesByClass = new WeakMap<object, WeakMap<object, RouteRules>>();

  constructor(private readonly reflector: Reflector) {}

  /** The rules of the route a context is running. */
  get(context: ExecutionContext): RouteRules {
    const handler = context.getHandler();
    const owner = context.getClass();
    let byHandler = owner ? this.rulesByClass.get(owner) : undefined;
    let rules = handler ? byHandler?.get(handler) : undefined;
    if (rules === undefined) {
      rules = readRouteRules(this.reflector, handler, owner);
      // A context without a handler or class (a hand-made one) has nothing to key the rules by.
      if (handler && owner) {
        if (!byHandler) this.rulesByClass.set(owner, (byHandler = new WeakMap()));
        byHandler.set(handler, rules);
      }
    }
    return rules;
  }
}
