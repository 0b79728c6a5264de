import { Inject, Injectable, Optional, type Type } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { DEFAULT_API_KEY_NAME } from '../api-key.constants.js';
import type { AbstractApiKey } from '../api-key.entity.js';
import { ApiKeyGuard } from '../api-key.guard.js';
import { ApiKeyService, getApiKeyServiceToken } from '../api-key.service.js';

const namedGuards = new Map<string, Type<ApiKeyGuard<any>>>();

/**
 * The guard class of a named registration (`ApiKeyModule.forRoot({ name })`). The same class
 * is returned for the same name, so it can be listed in `@UseGuards()` and provided once.
 *
 * @example
 * ```ts
 * export const PartnerApiKeyGuard = createApiKeyGuard('partner');
 *
 * @UseGuards(PartnerApiKeyGuard)
 * @Controller('partner')
 * export class PartnerController {}
 * ```
 * @publicApi
 */
export function createApiKeyGuard<T extends AbstractApiKey = AbstractApiKey>(
  name: string,
): Type<ApiKeyGuard<T>> {
  if (name === DEFAULT_API_KEY_NAME) return ApiKeyGuard as Type<ApiKeyGuard<T>>;
  let guard = namedGuards.get(name);
  if (!guard) {
    @Injectable()
    class NamedApiKeyGuard extends ApiKeyGuard<T> {
      static override readonly registration = name;

      constructor(
        @Optional() @Inject(getApiKeyServiceToken(name)) apiKeyService: ApiKeyService<T>,
        reflector: Reflector,
      ) {
        super(apiKeyService, reflector);
      }
    }
    Object.defineProperty(NamedApiKeyGuard, 'name', { value: `ApiKeyGuard(${name})` });
    guard = NamedApiKeyGuard;
    namedGuards.set(name, guard);
  }
  return guard as Type<ApiKeyGuard<T>>;
}

/**
 * The registration an entry of `@UseGuards()` or `@AllowApiKeyOr()` belongs to when it is an API
 * key guard: an instance says so itself, a class by its static `registration`. `undefined` for
 * anything else.
 */
export function registrationOfGuard(guard: unknown): string | undefined {
  if (guard instanceof ApiKeyGuard) return guard.registration;
  if (
    typeof guard === 'function' &&
    (guard === ApiKeyGuard || guard.prototype instanceof ApiKeyGuard)
  )
    return (guard as typeof ApiKeyGuard).registration;
  return undefined;
}
