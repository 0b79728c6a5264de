import {
  Inject,
  SetMetadata,
  UseGuards,
  applyDecorators,
  createParamDecorator,
  type CanActivate,
  type ExecutionContext,
  type Type,
} from '@nestjs/common';
import {
  API_KEY_ALTERNATIVES_METADATA,
  API_KEY_REQUEST_PROPERTY,
  API_KEY_SCOPES_METADATA,
  API_KEY_SKIP_METADATA,
  DEFAULT_API_KEY_NAME,
  getApiKeyOptionsToken,
} from './api-key.constants.js';
import { isScope } from './keys/format.js';
import { anyOfScopes } from './policies/any-scopes.js';
import { ImplicitApiKeyGuard, isImplicit } from './guards/implicit.js';
import { ApiKeyGuard } from './api-key.guard.js';
import { ApiKeyDecoratedRouteCheck } from './boot-checks/decorated-route.js';
import { resolveRequest } from './request/context.js';
import { getApiKeyServiceToken } from './api-key.service.js';

/** What `ApiKeyModule.forRoot({ name })` accepts as a registration name. */
const REGISTRATION_NAME = /^[A-Za-z0-9_-]+$/;

/**
 * Opens a route (or a whole controller) to the API key guard of a registration: `@SkipApiKey()`
 * to the default one (`ApiKeyGuard`, often the global guard), `@SkipApiKey('partner')` to the
 * guard of `createApiKeyGuard('partner')`, or several at once. A guard honours only a skip naming
 * its own registration, so `@SkipApiKey()` under a global `ApiKeyGuard` with
 * `@UseGuards(PartnerApiKeyGuard)` asks for a partner key instead of a default one.
 * `@SkipApiKey(false)` on a method protects it again inside a skipped controller.
 *
 * A name that no guard of the route belongs to is refused when the application boots.
 *
 * @example
 * ```ts
 * @SkipApiKey()
 * @Get('health')
 * health() { return { status: 'ok' }; }
 * ```
 * @param skip `true` (default) to open to the default registration, `false` to protect again
 * @throws {TypeError} at decoration time for anything but a boolean or registration names
 * @publicApi
 */
export function SkipApiKey(skip?: boolean): MethodDecorator & ClassDecorator;
/**
 * @param registrations names given to `ApiKeyModule.forRoot({ name })`; `default` for the default one
 */
export function SkipApiKey(...registrations: string[]): MethodDecorator & ClassDecorator;
export function SkipApiKey(...args: unknown[]): MethodDecorator & ClassDecorator {
  if (args.length === 0) return checked(SetMetadata(API_KEY_SKIP_METADATA, true));
  if (args.length === 1 && typeof args[0] === 'boolean')
    return checked(SetMetadata(API_KEY_SKIP_METADATA, args[0]));
  for (const name of args) {
    if (typeof name !== 'string' || !REGISTRATION_NAME.test(name))
      throw new TypeError(
        `@SkipApiKey() takes true, false or registration names, got ${JSON.stringify(name)}.`,
      );
  }
  const names = [...new Set(args as string[])];
  // One form in the metadata for one meaning: @SkipApiKey('default') is @SkipApiKey().
  if (names.length === 1 && names[0] === DEFAULT_API_KEY_NAME)
    return checked(SetMetadata(API_KEY_SKIP_METADATA, true));
  return checked(SetMetadata(API_KEY_SKIP_METADATA, names));
}

/**
 * The decorator, plus the guard that checks its route at boot whether or not the application
 * imports ApiKeyModule (see ApiKeyDecoratedRouteCheck).
 */
function checked(decorator: MethodDecorator & ClassDecorator): MethodDecorator & ClassDecorator {
  return applyDecorators(decorator, UseGuards(ApiKeyDecoratedRouteCheck));
}

/**
 * Requires the key to hold every listed scope; a valid key without one gets 403. Scopes match
 * exactly and case-sensitively (`*` is not a scope character, so there are no wildcards). On a
 * method it replaces (does not add to) the scopes required by its controller. A route no API key
 * guard checks is refused when the application boots.
 *
 * @example
 * ```ts
 * @RequireScopes('projects:write')
 * @Post('projects')
 * create() {}
 * ```
 * @throws {TypeError} at decoration time if no scope is given or one is not a valid scope
 * @publicApi
 */
export function RequireScopes(...scopes: string[]): MethodDecorator & ClassDecorator {
  checkScopeArguments('@RequireScopes()', scopes);
  return checked(SetMetadata(API_KEY_SCOPES_METADATA, [...new Set(scopes)]));
}

/**
 * Requires the key to hold at least one of the listed scopes; a valid key with none of them gets
 * 403. Otherwise as `@RequireScopes()`: on a method it replaces the controller's requirement
 * (either kind), the OpenAPI document shows it, and a route no API key guard checks is refused
 * at boot.
 *
 * @example
 * ```ts
 * @RequireScopes.any('reports:read', 'admin')
 * @Get('reports')
 * list() {}
 * ```
 * @throws {TypeError} at decoration time if no scope is given or one is not a valid scope
 * @publicApi
 */
RequireScopes.any = function anyOf(...scopes: string[]): MethodDecorator & ClassDecorator {
  checkScopeArguments('@RequireScopes.any()', scopes);
  return checked(SetMetadata(API_KEY_SCOPES_METADATA, anyOfScopes(scopes)));
};

/** @throws {TypeError} if no scope is given or one is not a valid scope */
function checkScopeArguments(decorator: string, scopes: string[]): void {
  if (scopes.length === 0)
    throw new TypeError(`${decorator} needs at least one scope; remove it to require none.`);
  for (const scope of scopes) {
    if (!isScope(scope)) {
      throw new TypeError(
        `${decorator}: ${JSON.stringify(scope)} is not a valid scope (letters, digits and ":._-").`,
      );
    }
  }
}

/**
 * Lets a request in with a valid API key OR when any of the given guards passes: DRF API Key's
 * `HasAPIKey | IsAuthenticated`. A request that passes another guard gets in even if it also
 * sends a bad or revoked key. When all refuse, the API key's refusal (401/403/503) is sent.
 *
 * The key side is the route's own API key guard: `ApiKeyGuard`, applied by this decorator, or
 * the guard of another registration named with `@UseGuards()` on the method or class
 * (`@UseGuards(PartnerApiKeyGuard) @AllowApiKeyOr(JwtGuard)`: a partner key or a JWT). An API
 * key guard of another registration may be an alternative too (`@AllowApiKeyOr(PartnerApiKeyGuard)`:
 * a default key or a partner key); it is asked for its key alone, never for its skips or its own
 * alternatives. Combinations that would leave the route open or ask for nothing are refused
 * when the application boots.
 *
 * @example
 * ```ts
 * @AllowApiKeyOr(JwtAuthGuard)
 * @Get('reports')
 * reports() {}
 * ```
 * @throws {TypeError} at decoration time if no guard is given, or `ApiKeyGuard` is (it is the key side already)
 * @publicApi
 */
export function AllowApiKeyOr(...guards: Type<CanActivate>[]): MethodDecorator & ClassDecorator {
  if (guards.length === 0)
    throw new TypeError(
      '@AllowApiKeyOr() needs at least one other guard; use @UseGuards(ApiKeyGuard) for a key alone.',
    );
  for (const guard of guards) {
    if (typeof guard !== 'function')
      throw new TypeError(`@AllowApiKeyOr(): ${String(guard)} is not a guard class.`);
    if (guard === ApiKeyGuard || isImplicit(guard)) {
      throw new TypeError(
        `@AllowApiKeyOr(): ApiKeyGuard is the key side of the OR already; list the other guards a request may pass (for keys of another registration, its createApiKeyGuard(name) guard).`,
      );
    }
  }
  return applyDecorators(
    SetMetadata(API_KEY_ALTERNATIVES_METADATA, guards),
    UseGuards(ImplicitApiKeyGuard),
  );
}

/**
 * Hands the handler the key entity that passed the guard. `undefined` when the request got in
 * another way (through `@AllowApiKeyOr()`'s other guards, or `@SkipApiKey()`).
 *
 * @example
 * ```ts
 * @Get('me')
 * me(@CurrentApiKey() apiKey: ApiKey) { return { name: apiKey.name }; }
 * ```
 * @publicApi
 */
export const CurrentApiKey = createParamDecorator((_data: unknown, context: ExecutionContext) => {
  return resolveRequest(context)?.[API_KEY_REQUEST_PROPERTY];
});

/**
 * Injects the `ApiKeyService` of a registration.
 *
 * @param name registration name; the default registration when omitted
 * @publicApi
 */
export function InjectApiKeyService(name?: string): PropertyDecorator & ParameterDecorator {
  return Inject(getApiKeyServiceToken(name));
}

/**
 * Injects the resolved options of a registration.
 *
 * @param name registration name; the default registration when omitted
 * @publicApi
 */
export function InjectApiKeyOptions(name?: string): PropertyDecorator & ParameterDecorator {
  return Inject(getApiKeyOptionsToken(name));
}
