import 'reflect-metadata';
import { Controller, Get, Module, Post, Req, UseGuards } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ApiKeyGuard,
  ApiKeyModule,
  ApiKeyService,
  CurrentApiKey,
  RequireScopes,
  type ApiKey,
} from '../../lib/index.js';
import { ADAPTERS, call, startApp, startOnNewDatabase } from '../support/http.js';
import { ENGINES } from '../support/databases.js';
import { typeOrmFor } from '../support/scenario-app.js';

@Controller()
@UseGuards(ApiKeyGuard)
class ProjectsController {
  @Get('projects')
  list(@CurrentApiKey() apiKey: ApiKey) {
    return { prefix: apiKey.prefix, name: apiKey.name };
  }

  /** What the framework's request object holds after the guard: read directly, not through the decorator. */
  @Get('request-key')
  requestKey(@Req() request: Record<string, any>) {
    const onPrototype = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(request), 'apiKey');
    return {
      prefix: request.apiKey?.prefix,
      ownProperty: Object.hasOwn(request, 'apiKey'),
      accessorOnPrototype: typeof onPrototype?.get === 'function',
    };
  }

  @Post('projects')
  @RequireScopes('projects:write')
  create() {
    return { created: true };
  }
}

describe.each(ENGINES)('smoke on %s', (engine) => {
  describe.each(ADAPTERS)('%s', (_platform, adapter) => {
    let url: string;
    let app: Awaited<ReturnType<typeof startApp>>['app'];
    let stop: () => Promise<void>;
    let service: ApiKeyService;

    beforeAll(async () => {
      ({ app, url, stop } = await startOnNewDatabase(engine, adapter, (database) => {
        @Module({
          imports: [typeOrmFor(database), ApiKeyModule.forRoot({})],
          controllers: [ProjectsController],
        })
        class AppModule {}
        return AppModule;
      }));
      service = app.get(ApiKeyService);
    });
    afterAll(() => stop?.());

    it('lets a valid key in and refuses others', async () => {
      const { key, apiKey } = await service.create({ name: 'smoke', scopes: ['projects:read'] });
      const ok = await call(`${url}/projects`, { headers: { authorization: `Api-Key ${key}` } });
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({ prefix: apiKey.prefix, name: 'smoke' });
      const none = await call(`${url}/projects`);
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toBe('Api-Key realm="api"');
      const forbidden = await call(`${url}/projects`, {
        method: 'POST',
        headers: { authorization: `Api-Key ${key}` },
      });
      expect(forbidden.status).toBe(403);
      await service.revoke(apiKey.id);
      expect(
        (await call(`${url}/projects`, { headers: { authorization: `Api-Key ${key}` } })).status,
      ).toBe(401);
    });

    it("puts each request's key on request.apiKey through an accessor on the framework's request prototype", async () => {
      const keys = await Promise.all(
        ['first', 'second'].map((name) => service.create({ name, scopes: [] })),
      );
      const answers = await Promise.all(
        [...keys, ...keys].map(({ key }) =>
          call(`${url}/request-key`, { headers: { authorization: `Api-Key ${key}` } }),
        ),
      );
      expect(answers.map((answer) => answer.body)).toEqual(
        [...keys, ...keys].map(({ apiKey }) => ({
          prefix: apiKey.prefix,
          ownProperty: false,
          accessorOnPrototype: true,
        })),
      );
    });
  });
});
