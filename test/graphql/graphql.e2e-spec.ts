import 'reflect-metadata';
import { Module, UseGuards } from '@nestjs/common';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { GraphQLModule, Query, Resolver } from '@nestjs/graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ApiKeyGuard,
  ApiKeyModule,
  ApiKeyService,
  CurrentApiKey,
  RequireScopes,
  type ApiKey,
} from '../../lib/index.js';
import { ADAPTERS, call, startOnNewDatabase } from '../support/http.js';
import { FAST_BCRYPT, withWrongSecret } from '../support/key-store.js';
import { typeOrmFor } from '../support/scenario-app.js';

@Resolver()
class KeyResolver {
  @Query(() => String)
  @UseGuards(ApiKeyGuard)
  whoami(@CurrentApiKey() apiKey: ApiKey): string {
    return apiKey.prefix;
  }

  @Query(() => String)
  @UseGuards(ApiKeyGuard)
  @RequireScopes('admin')
  secret(): string {
    return 'classified';
  }
}

describe.each(ADAPTERS)('GraphQL (Apollo) on %s', (_platform, adapter) => {
  let app: any;
  let url: string;
  let stop: () => Promise<void>;
  let key: string;
  let prefix: string;

  beforeAll(async () => {
    ({ app, url, stop } = await startOnNewDatabase('sqlite', adapter, (database) => {
      @Module({
        imports: [
          typeOrmFor(database),
          ApiKeyModule.forRoot({ hasher: FAST_BCRYPT }),
          GraphQLModule.forRoot<ApolloDriverConfig>({
            driver: ApolloDriver,
            autoSchemaFile: true,
            // No `context` option: the guard must find the request in each platform's default shape.
          }),
        ],
        providers: [KeyResolver],
      })
      class AppModule {}
      return AppModule;
    }));
    const created = await app.get(ApiKeyService).create({ name: 'gql' });
    key = created.key;
    prefix = created.apiKey.prefix;
  });
  afterAll(() => stop?.());

  const query = (q: string, headers: Record<string, string> = {}) =>
    call(`${url}/graphql`, { method: 'POST', headers, body: { query: q } });

  it('finds the request in the GraphQL context and hands the key to the resolver', async () => {
    const response = await query('{ whoami }', { authorization: `Api-Key ${key}` });
    expect(response.status).toBe(200);
    expect(response.body.data).toEqual({ whoami: prefix });
  });

  it('answers a missing or bad key with the 401 error, not a crash', async () => {
    for (const headers of [{}, { authorization: `Api-Key ${withWrongSecret(key)}` }] as Record<
      string,
      string
    >[]) {
      const response = await query('{ whoami }', headers);
      expect(response.body.data).toBeNull();
      expect(response.body.errors[0].message).toBe('Invalid or missing API key.');
      expect(JSON.stringify(response.body)).not.toContain('Internal server error');
    }
  });

  it('answers a missing scope with the 403 error', async () => {
    const response = await query('{ secret }', { authorization: `Api-Key ${key}` });
    expect(response.body.data).toBeNull();
    expect(response.body.errors[0].message).toBe('API key lacks required scope: admin.');
  });
});
