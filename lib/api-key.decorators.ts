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
  getApiKeyOptionsToken,
} from './api-key.constants.js';
import { isScope } from './api-key.format.js';
import { ApiKeyGuard } from './api-key.guard.js';
import { resolveRequest } from './api-key.request.js';
import { getApiKeyServiceToken } from './api-key.service.js';

/**
 * Opens a route (or a whole controller) that a global `ApiKeyGuard` would otherwise protect.
 * `@SkipApiKey(false)` on a method protects it again inside a skipped controller.
 *
 * @example
 * ```ts
 * @SkipApiKey()
 * @Get('health')
 * health() { return { status: 'ok' }; }
 * ```
 * @param skip `true` (default) to open, `false` to protect again
 * @throws {TypeError} at decoration time if `skip` is not a boolean
 * @publicApi
 */
export function SkipApiKey(skip = true): MethodDecorator & ClassDecorator {
  if (typeof skip !== 'boolean')
    throw new TypeError(`@SkipApiKey() takes true or false, got ${JSON.stringify(skip)}.`);
  return SetMetadata(API_KEY_SKIP_METADATA, skip);
}

/**
 * Requires the key to hold every listed scope; a valid key without one gets 403. On a method
 * it replaces (does not add to) the scopes required by its controller.
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
  if (scopes.length === 0)
    throw new TypeError('@RequireScopes() needs at least one scope; remove it to require none.');
  for (const scope of scopes) {
    if (!isScope(scope)) {
      throw new TypeError(
        `@RequireScopes(): ${JSON.stringify(scope)} is not a valid scope (letters, digits and ":._*-").`,
      );
    }
  }
  return SetMetadata(API_KEY_SCOPES_METADATA, [...new Set(scopes)]);
}

/**
 * Lets a request in with a valid API key OR when any of the given guards passes: DRF API Key's
 * `HasAPIKey | IsAuthenticated`. A request that passes another guard gets in even if it also
 * sends a bad or revoked key. When all refuse, the API key's refusal (401/403/503) is sent.
 * Applies `ApiKeyGuard` itself; do not add it again with `@UseGuards`.
 *
 * @example
 * ```ts
 * @AllowApiKeyOr(JwtAuthGuard)
 * @Get('reports')
 * reports() {}
 * ```
 * @throws {TypeError} at decoration time if no guard is given
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
    if (guard === ApiKeyGuard || guard.prototype instanceof ApiKeyGuard) {
      throw new TypeError(
        `@AllowApiKeyOr(): ${guard.name} is an API key guard; list the other guards a request may pass instead.`,
      );
    }
  }
  return applyDecorators(
    SetMetadata(API_KEY_ALTERNATIVES_METADATA, guards),
    UseGuards(ApiKeyGuard),
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
