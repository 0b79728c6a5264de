import type { INestApplication } from '@nestjs/common';
import { expect } from 'vitest';
import { ApiKeyService, type CreatedApiKey } from '../../lib/index.js';
import { expectUnauthorized } from './denials.js';
import { call } from './http.js';

/**
 * What a scenario of a failing key store sends to its app's `/orders` route (behind
 * `ApiKeyGuard`, answering `{ prefix }`): keys made while the store was fine, and the request.
 */
export interface KeysAroundFailure {
  /** Verified once before the failure, so its secret is memoised: only its row is left to read. */
  used: CreatedApiKey;
  /** Never presented before the failure. */
  unused: CreatedApiKey;
  /** A well-formed key whose prefix has no row. */
  unknown: string;
  /** GETs `/orders` with `key` in `Authorization`, or with no key. */
  get(key?: string): ReturnType<typeof call>;
}

/** Makes the keys of {@link KeysAroundFailure} on a running app, and presents `used` once. */
export async function keysBeforeFailure(
  app: INestApplication,
  url: string,
): Promise<KeysAroundFailure> {
  const get = (key?: string) =>
    call(`${url}/orders`, { headers: key ? { authorization: `Api-Key ${key}` } : {} });
  const service = app.get(ApiKeyService);
  const used = await service.create({ name: 'used before the failure' });
  const unused = await service.create({ name: 'first used during the failure' });
  const [prefix, secret] = used.key.split('.');
  const unknown = `${[...prefix].reverse().join('')}.${secret}`;
  expect((await get(used.key)).status).toBe(200);
  return { used, unused, unknown, get };
}

/** Asserts that every key is answered as before the failure: no restart was needed. */
export async function expectServedAgain({ used, unused, unknown, get }: KeysAroundFailure) {
  const back = await get(used.key);
  expect(back.status).toBe(200);
  expect(back.body).toEqual({ prefix: used.apiKey.prefix });
  expect((await get(unused.key)).body).toEqual({ prefix: unused.apiKey.prefix });
  expectUnauthorized(await get(unknown));
}

/** Asserts that a revocation made after the failure applies to the next request. */
export async function expectRevocationApplies(
  app: INestApplication,
  { used, unused, get }: KeysAroundFailure,
) {
  await app.get(ApiKeyService).revoke(used.apiKey.id);
  expectUnauthorized(await get(used.key));
  expect((await get(unused.key)).status).toBe(200);
}
