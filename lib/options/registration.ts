import type { Type } from '@nestjs/common';
import { getMetadataArgsStorage } from 'typeorm';
import { DEFAULT_API_KEY_NAME } from '../api-key.constants.js';
import { AbstractApiKey, ApiKey } from '../api-key.entity.js';
import { ApiKeyConfigurationError } from '../api-key.errors.js';
import { ASYNC_REGISTRATION_FIELDS } from './fields.js';
import type { ApiKeyModuleAsyncOptions, ApiKeyModuleOptions } from '../api-key.options.js';

function fail(option: string, problem: string, fix: string): never {
  throw new ApiKeyConfigurationError(option, problem, fix);
}

function validateIsGlobal(isGlobal: unknown): void {
  if (isGlobal !== undefined && typeof isGlobal !== 'boolean') {
    fail(
      'isGlobal',
      `expected true or false, got ${JSON.stringify(isGlobal)}.`,
      'set isGlobal: true or leave it unset.',
    );
  }
}

/**
 * Checks the registration fields given to `forRoot`/`forRootAsync`, before the module is built.
 *
 * @throws {ApiKeyConfigurationError} naming the field and the fix
 */
export function validateRegistration<T extends AbstractApiKey>(
  registration: Pick<ApiKeyModuleOptions<T>, 'name' | 'entity' | 'isGlobal'>,
): { name: string; entity: Type<T> } {
  const name = registration.name ?? DEFAULT_API_KEY_NAME;
  if (typeof name !== 'string' || !/^[A-Za-z0-9_-]+$/.test(name)) {
    fail(
      'name',
      `${JSON.stringify(name)} is not a valid registration name.`,
      'use letters, digits, "_" or "-", e.g. "partner".',
    );
  }
  const entity = (registration.entity ?? ApiKey) as Type<T>;
  if (typeof entity !== 'function' || !(entity.prototype instanceof AbstractApiKey)) {
    fail(
      'entity',
      `${String((entity as any)?.name ?? entity)} does not extend AbstractApiKey.`,
      'declare your key entity as `class MyKey extends AbstractApiKey` with @Entity().',
    );
  }
  if (!getMetadataArgsStorage().tables.some((table) => table.target === entity)) {
    fail(
      'entity',
      `${entity.name} is not decorated with @Entity().`,
      `add @Entity('your_table') to ${entity.name}.`,
    );
  }
  validateIsGlobal(registration.isGlobal);
  return { name, entity };
}

/**
 * Checks the fields given to `forRootAsync`: no unknown field (key options belong in the
 * factory's result), and the registration fields as `validateRegistration` does.
 *
 * @throws {ApiKeyConfigurationError} naming the field and the fix
 */
export function validateAsyncRegistration<T extends AbstractApiKey>(
  options: ApiKeyModuleAsyncOptions<T>,
): { name: string; entity: Type<T> } {
  for (const key of Object.keys(options ?? {})) {
    if (!(ASYNC_REGISTRATION_FIELDS as readonly string[]).includes(key)) {
      fail(
        key,
        'is not a forRootAsync() field.',
        `return it from useFactory, or use one of: ${ASYNC_REGISTRATION_FIELDS.join(', ')}.`,
      );
    }
  }
  return validateRegistration(options);
}
