import 'reflect-metadata';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import {
  Injectable,
  Logger,
  Module,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { Test } from '@nestjs/testing';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FakeClock } from '../test/support/clock.js';
import { FAST_BCRYPT, openKeyStore, type KeyStore } from '../test/support/key-store.js';
import { API_KEY_UNAUTHORIZED_MESSAGE } from './api-key.constants.js';
import { AllowApiKeyOr, RequireScopes, SkipApiKey } from './api-key.decorators.js';
import type { ApiKey } from './api-key.entity.js';
import { ApiKeyStoreUnavailableError } from './api-key.errors.js';
import {
  ApiKeyForbiddenException,
  ApiKeyUnauthorizedException,
  ApiKeyUnavailableException,
} from './api-key.exceptions.js';
import { ApiKeyGuard } from './api-key.guard.js';
import { ApiKeyModule } from './api-key.module.js';
import {
  ApiKeyService,
  type ApiKeyFailureReason,
  type ApiKeyVerification,
} from './api-key.service.js';
import { IN_MEMORY_SQLITE, typeOrmFor } from '../test/support/scenario-app.js';

@RequireScopes('reports:read')
class ReportsController {
  read() {}

  @RequireScopes('reports:write')
  write() {}

  @SkipApiKey()
  health() {}
}

class OpenController {
  anything() {}
}

/** A real Node request and response, as Express hands them to a guard. */
function httpExchange(headers: Record<string, string> = {}) {
  const request = new IncomingMessage(new Socket());
  request.headers = headers;
  const response = new ServerResponse(request);
  return { request: request as IncomingMessage & { apiKey?: ApiKey }, response };
}

function httpContext(
  headers: Record<string, string>,
  handler: Function = OpenController.prototype.anything,
  controller: Function = OpenController,
) {
  const { request, response } = httpExchange(headers);
  const context = new ExecutionContextHost(
    [request, response, () => undefined],
    controller as any,
    handler,
  );
  context.setType('http');
  return { context, request, response };
}

function graphqlContext(
  gqlContext: Record<string, unknown>,
  handler: Function = OpenController.prototype.anything,
) {
  const context = new ExecutionContextHost(
    [{}, {}, gqlContext, {}],
    OpenController as any,
    handler,
  );
  context.setType('graphql');
  return context;
}

function wsContext(client: unknown, handler: Function = OpenController.prototype.anything) {
  const context = new ExecutionContextHost(
    [client, { event: 'subscribe' }],
    OpenController as any,
    handler,
  );
  context.setType('ws');
  return context;
}

function rpcContext(data: unknown) {
  const context = new ExecutionContextHost(
    [data, {}],
    OpenController as any,
    OpenController.prototype.anything,
  );
  context.setType('rpc');
  return context;
}

describe('ApiKeyGuard on SQLite', () => {
  let store: KeyStore;
  let service: ApiKeyService;
  let guard: ApiKeyGuard;
  let valid: string;
  let validKey: ApiKey;
  let revoked: string;
  let writer: string;
  const clock = new FakeClock();

  beforeAll(async () => {
    Logger.overrideLogger(false);
    store = await openKeyStore('sqlite');
    service = store.service({ clock: clock.now });
    guard = new ApiKeyGuard(service, new Reflector());
    ({ key: valid, apiKey: validKey } = await service.create({
      name: 'reader',
      scopes: ['reports:read'],
    }));
    ({ key: writer } = await service.create({ name: 'writer', scopes: ['reports:write'] }));
    const gone = await service.create({ name: 'gone', scopes: ['reports:read'] });
    await service.revoke(gone.apiKey.id);
    revoked = gone.key;
  });
  afterAll(async () => {
    await store?.close();
  });

  describe('http', () => {
    it('lets a valid key in and puts its entity on the request', async () => {
      const { context, request } = httpContext({ authorization: `Api-Key ${valid}` });
      expect(await guard.canActivate(context)).toBe(true);
      expect(request.apiKey?.id).toBe(validKey.id);
      expect(request.apiKey?.name).toBe('reader');
      expect(request.apiKey && 'hashedKey' in request.apiKey).toBe(false);
    });

    it('matches the scheme case-insensitively', async () => {
      for (const scheme of ['api-key', 'API-KEY', 'aPi-KeY']) {
        expect(
          await guard.canActivate(httpContext({ authorization: `${scheme} ${valid}` }).context),
        ).toBe(true);
      }
    });

    it.each<[string, () => Record<string, string>]>([
      ['no header', () => ({})],
      ['a revoked key', () => ({ authorization: `Api-Key ${revoked}` })],
      [
        'an unknown key',
        () => ({ authorization: 'Api-Key AAAAAAAA.BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB' }),
      ],
      ['another scheme', () => ({ authorization: `Bearer ${valid}` })],
      [
        'a scheme that only ends with Api-Key (DRF #218)',
        () => ({ authorization: `My-Special-Api-Key ${valid}` }),
      ],
      ['no space after the scheme', () => ({ authorization: `Api-Key:${valid}` })],
      ['two spaces', () => ({ authorization: `Api-Key  ${valid}` })],
      ['a trailing space', () => ({ authorization: `Api-Key ${valid} ` })],
      ['the key in a custom header nobody configured', () => ({ 'x-api-key': valid })],
    ])('answers %s with 401 and WWW-Authenticate', async (_case, headers) => {
      const { context, request, response } = httpContext(headers());
      const refusal = await guard.canActivate(context).catch((error: unknown) => error);
      expect(refusal).toBeInstanceOf(ApiKeyUnauthorizedException);
      expect((refusal as ApiKeyUnauthorizedException).getStatus()).toBe(401);
      expect((refusal as ApiKeyUnauthorizedException).message).toBe(API_KEY_UNAUTHORIZED_MESSAGE);
      expect(response.getHeader('www-authenticate')).toBe('Api-Key realm="api"');
      expect(request.apiKey).toBeUndefined();
    });

    it('answers a valid key without the required scope with 403; method scopes replace class scopes', async () => {
      const read = ReportsController.prototype.read;
      const write = ReportsController.prototype.write;
      expect(
        await guard.canActivate(
          httpContext({ authorization: `Api-Key ${valid}` }, read, ReportsController).context,
        ),
      ).toBe(true);
      const forbidden = await guard
        .canActivate(
          httpContext({ authorization: `Api-Key ${valid}` }, write, ReportsController).context,
        )
        .catch((e: unknown) => e);
      expect(forbidden).toBeInstanceOf(ApiKeyForbiddenException);
      expect((forbidden as ApiKeyForbiddenException).getStatus()).toBe(403);
      expect((forbidden as ApiKeyForbiddenException).missingScopes).toEqual(['reports:write']);
      // The writer holds reports:write only: enough for write(), which does not also need the class's reports:read.
      expect(
        await guard.canActivate(
          httpContext({ authorization: `Api-Key ${writer}` }, write, ReportsController).context,
        ),
      ).toBe(true);
      await expect(
        guard.canActivate(
          httpContext({ authorization: `Api-Key ${writer}` }, read, ReportsController).context,
        ),
      ).rejects.toBeInstanceOf(ApiKeyForbiddenException);
    });

    it("reads a route's metadata once, per handler and controller class", async () => {
      @RequireScopes('reports:write')
      class WritingReportsController extends ReportsController {}
      const reflector = new Reflector();
      const reads = vi.spyOn(reflector, 'getAllAndOverride');
      const routeGuard = new ApiKeyGuard(service, reflector);
      const read = ReportsController.prototype.read;
      for (let i = 0; i < 3; i++)
        expect(
          await routeGuard.canActivate(
            httpContext({ authorization: `Api-Key ${valid}` }, read, ReportsController).context,
          ),
        ).toBe(true);
      // One read per decorator the guard honours (skip, scopes, alternatives, skip usage).
      expect(reads).toHaveBeenCalledTimes(4);
      // The same inherited handler under another class has that class's scopes, not the cached ones.
      await expect(
        routeGuard.canActivate(
          httpContext({ authorization: `Api-Key ${valid}` }, read, WritingReportsController)
            .context,
        ),
      ).rejects.toBeInstanceOf(ApiKeyForbiddenException);
      expect(
        await routeGuard.canActivate(
          httpContext({ authorization: `Api-Key ${writer}` }, read, WritingReportsController)
            .context,
        ),
      ).toBe(true);
      expect(reads).toHaveBeenCalledTimes(8);
    });

    it('opens a route marked @SkipApiKey() without looking at the key', async () => {
      const { context, request } = httpContext(
        { authorization: `Api-Key ${revoked}` },
        ReportsController.prototype.health,
        ReportsController,
      );
      expect(await guard.canActivate(context)).toBe(true);
      expect(request.apiKey).toBeUndefined();
    });

    it('reads only the configured header when one is set, and names it in WWW-Authenticate', async () => {
      const headerService = store.service({ clock: clock.now, header: 'X-Api-Key' });
      const headerGuard = new ApiKeyGuard(headerService, new Reflector());
      expect(await headerGuard.canActivate(httpContext({ 'x-api-key': valid }).context)).toBe(true);
      const { context, response } = httpContext({ authorization: `Api-Key ${valid}` });
      await expect(headerGuard.canActivate(context)).rejects.toBeInstanceOf(
        ApiKeyUnauthorizedException,
      );
      expect(response.getHeader('www-authenticate')).toBe(
        'Api-Key realm="api", header="x-api-key"',
      );
      await expect(
        headerGuard.canActivate(httpContext({ 'x-api-key': '' }).context),
      ).rejects.toBeInstanceOf(ApiKeyUnauthorizedException);
    });

    it('reads a configured keyword and realm', async () => {
      const bearerGuard = new ApiKeyGuard(
        store.service({ clock: clock.now, keyword: 'Bearer', realm: 'partners' }),
        new Reflector(),
      );
      expect(
        await bearerGuard.canActivate(httpContext({ authorization: `Bearer ${valid}` }).context),
      ).toBe(true);
      const { context, response } = httpContext({ authorization: `Api-Key ${valid}` });
      await expect(bearerGuard.canActivate(context)).rejects.toBeInstanceOf(
        ApiKeyUnauthorizedException,
      );
      expect(response.getHeader('www-authenticate')).toBe('Bearer realm="partners"');
    });

    it('answers 503 with Retry-After, never a pass, when the key store is down', async () => {
      const doomed = await openKeyStore('sqlite');
      const doomedService = doomed.service({ clock: clock.now });
      const { key } = await doomedService.create({ name: 'doomed' });
      await doomed.dataSource.destroy();
      const doomedGuard = new ApiKeyGuard(doomedService, new Reflector());
      const { context, request, response } = httpContext({ authorization: `Api-Key ${key}` });
      const refusal = await doomedGuard.canActivate(context).catch((e: unknown) => e);
      expect(refusal).toBeInstanceOf(ApiKeyUnavailableException);
      expect((refusal as ApiKeyUnavailableException).getStatus()).toBe(503);
      expect(response.getHeader('retry-after')).toBe('5');
      expect(request.apiKey).toBeUndefined();
      expect(
        await doomedGuard.canActivate(
          wsContext({ handshake: { headers: { authorization: `Api-Key ${key}` } } }),
        ),
      ).toBe(false);
      await doomed.close();
    });
  });

  describe('graphql', () => {
    it('finds the request in an Apollo context ({ req }) and refuses with a 401 exception', async () => {
      const { request, response } = httpExchange({ authorization: `Api-Key ${valid}` });
      expect(await guard.canActivate(graphqlContext({ req: request, res: response }))).toBe(true);
      expect(request.apiKey?.id).toBe(validKey.id);

      const bad = httpExchange({ authorization: `Api-Key ${revoked}` });
      await expect(
        guard.canActivate(graphqlContext({ req: bad.request, res: bad.response })),
      ).rejects.toBeInstanceOf(ApiKeyUnauthorizedException);
      expect(bad.response.getHeader('www-authenticate')).toBe('Api-Key realm="api"');
    });

    it('finds the request in a Mercurius context ({ reply: { request } })', async () => {
      const request: { headers: Record<string, string>; apiKey?: ApiKey } = {
        headers: { authorization: `Api-Key ${valid}` },
      };
      expect(await guard.canActivate(graphqlContext({ reply: { request } }))).toBe(true);
      expect(request.apiKey?.id).toBe(validKey.id);
      await expect(
        guard.canActivate(graphqlContext({ reply: { request: { headers: {} } } })),
      ).rejects.toBeInstanceOf(ApiKeyUnauthorizedException);
    });

    it('answers a missing scope with a 403 exception', async () => {
      const context = new ExecutionContextHost(
        [{}, {}, { req: httpExchange({ authorization: `Api-Key ${valid}` }).request }, {}],
        ReportsController as any,
        ReportsController.prototype.write,
      );
      context.setType('graphql');
      await expect(guard.canActivate(context)).rejects.toBeInstanceOf(ApiKeyForbiddenException);
    });
  });

  describe('ws', () => {
    it('reads a socket.io client handshake and puts the key on it', async () => {
      const client = {
        handshake: {
          headers: { authorization: `Api-Key ${valid}` } as Record<string, string> & object,
          apiKey: undefined as ApiKey | undefined,
        },
      };
      expect(await guard.canActivate(wsContext(client))).toBe(true);
      expect(client.handshake.apiKey?.id).toBe(validKey.id);
    });

    it('reads a ws client upgrade request', async () => {
      const { request } = httpExchange({ authorization: `Api-Key ${valid}` });
      expect(await guard.canActivate(wsContext({ request }))).toBe(true);
      expect(request.apiKey?.id).toBe(validKey.id);
    });

    it('returns false instead of throwing an HTTP exception for a bad key or a missing scope', async () => {
      expect(
        await guard.canActivate(
          wsContext({ handshake: { headers: { authorization: `Api-Key ${revoked}` } } }),
        ),
      ).toBe(false);
      expect(await guard.canActivate(wsContext({ handshake: { headers: {} } }))).toBe(false);
      expect(await guard.canActivate(wsContext({}))).toBe(false);
      expect(
        await guard.canActivate(
          wsContext(
            { handshake: { headers: { authorization: `Api-Key ${valid}` } } },
            ReportsController.prototype.write,
          ),
        ),
      ).toBe(false);
    });
  });

  describe('rpc', () => {
    it('returns false: there is no request to read a key from', async () => {
      expect(
        await guard.canActivate(rpcContext({ headers: { authorization: `Api-Key ${valid}` } })),
      ).toBe(false);
    });

    it('lets a subclass say where the request is, by overriding getRequest', async () => {
      @Injectable()
      class RpcApiKeyGuard extends ApiKeyGuard {
        protected override getRequest(context: ExecutionContext) {
          return context.getType() === 'rpc'
            ? context.switchToRpc().getData()
            : super.getRequest(context);
        }
      }
      const rpcGuard = new RpcApiKeyGuard(service, new Reflector());
      const data: { headers: Record<string, string>; apiKey?: ApiKey } = {
        headers: { authorization: `Api-Key ${valid}` },
      };
      expect(await rpcGuard.canActivate(rpcContext(data))).toBe(true);
      expect(data.apiKey?.id).toBe(validKey.id);
      expect(
        await rpcGuard.canActivate(
          rpcContext({ headers: { authorization: `Api-Key ${revoked}` } }),
        ),
      ).toBe(false);
    });
  });

  describe('subclass hooks', () => {
    it('extractKey: a guard reading a cookie lets the cookie in and ignores Authorization', async () => {
      class CookieApiKeyGuard extends ApiKeyGuard {
        protected override extractKey(request: any): string | null {
          const match = /(?:^|;\s*)api_key=([^;]+)/.exec(request?.headers?.cookie ?? '');
          return match ? decodeURIComponent(match[1]) : null;
        }
      }
      const cookieGuard = new CookieApiKeyGuard(service, new Reflector());
      const { context, request } = httpContext({ cookie: `theme=dark; api_key=${valid}` });
      expect(await cookieGuard.canActivate(context)).toBe(true);
      expect(request.apiKey?.id).toBe(validKey.id);
      await expect(
        cookieGuard.canActivate(httpContext({ authorization: `Api-Key ${valid}` }).context),
      ).rejects.toBeInstanceOf(ApiKeyUnauthorizedException);
    });

    it('validateKey: extra checks of a subclass can refuse a key the service accepts', async () => {
      const seen: string[] = [];
      class InternalNetworkGuard extends ApiKeyGuard {
        protected override async validateKey(
          key: string,
          context: ExecutionContext,
        ): Promise<ApiKeyVerification<any>> {
          const result = await super.validateKey(key, context);
          const network = context.switchToHttp().getRequest().headers['x-network'];
          seen.push(`${result.valid}:${network}`);
          return result.valid && network !== 'internal'
            ? { valid: false, reason: 'unknown' }
            : result;
        }
      }
      const networkGuard = new InternalNetworkGuard(service, new Reflector());
      expect(
        await networkGuard.canActivate(
          httpContext({ authorization: `Api-Key ${valid}`, 'x-network': 'internal' }).context,
        ),
      ).toBe(true);
      await expect(
        networkGuard.canActivate(
          httpContext({ authorization: `Api-Key ${valid}`, 'x-network': 'public' }).context,
        ),
      ).rejects.toBeInstanceOf(ApiKeyUnauthorizedException);
      expect(seen).toEqual(['true:internal', 'true:public']);
    });

    it('denyUnauthorized, denyForbidden, denyUnavailable: a subclass throws its own errors, with the reason', async () => {
      class ProblemError extends Error {
        constructor(
          readonly status: number,
          readonly detail: string,
        ) {
          super(`${status} ${detail}`);
        }
      }
      class ProblemGuard extends ApiKeyGuard {
        protected override denyUnauthorized(
          _context: ExecutionContext,
          reason: ApiKeyFailureReason | 'missing',
        ): boolean {
          throw new ProblemError(401, reason);
        }
        protected override denyForbidden(
          _context: ExecutionContext,
          missingScopes: string[],
        ): boolean {
          throw new ProblemError(403, missingScopes.join(','));
        }
        protected override denyUnavailable(
          _context: ExecutionContext,
          error: ApiKeyStoreUnavailableError,
        ): boolean {
          throw new ProblemError(503, error.name);
        }
      }
      const problemGuard = new ProblemGuard(service, new Reflector());
      const refusal = (
        headers: Record<string, string>,
        handler?: Function,
        controller?: Function,
      ) =>
        problemGuard
          .canActivate(httpContext(headers, handler, controller).context)
          .catch((e: unknown) => e);
      expect(await refusal({})).toEqual(new ProblemError(401, 'missing'));
      expect(await refusal({ authorization: `Api-Key ${revoked}` })).toEqual(
        new ProblemError(401, 'revoked'),
      );
      expect(await refusal({ authorization: 'Api-Key nonsense' })).toEqual(
        new ProblemError(401, 'malformed'),
      );
      expect(
        await refusal({ authorization: `Api-Key ${valid.slice(0, 9)}${'q'.repeat(32)}` }),
      ).toEqual(new ProblemError(401, 'bad_secret'));
      expect(
        await refusal(
          { authorization: `Api-Key ${valid}` },
          ReportsController.prototype.write,
          ReportsController,
        ),
      ).toEqual(new ProblemError(403, 'reports:write'));

      const doomed = await openKeyStore('sqlite');
      const doomedService = doomed.service({ clock: clock.now });
      const { key } = await doomedService.create({ name: 'doomed' });
      await doomed.dataSource.destroy();
      const doomedGuard = new ProblemGuard(doomedService, new Reflector());
      const unavailable = await doomedGuard
        .canActivate(httpContext({ authorization: `Api-Key ${key}` }).context)
        .catch((e: unknown) => e);
      expect(unavailable).toEqual(new ProblemError(503, 'ApiKeyStoreUnavailableError'));
      await doomed.close();
    });

    it('onAuthenticated: a subclass can put the key where it likes', async () => {
      class UserShapedGuard extends ApiKeyGuard {
        protected override onAuthenticated(request: any, apiKey: ApiKey): void {
          request.user = { kind: 'service', name: apiKey.name };
        }
      }
      const { context, request } = httpContext({ authorization: `Api-Key ${valid}` });
      expect(await new UserShapedGuard(service, new Reflector()).canActivate(context)).toBe(true);
      expect((request as any).user).toEqual({ kind: 'service', name: 'reader' });
      expect(request.apiKey).toBeUndefined();
    });
  });
});

/** Passes requests that carry `x-staff: yes`, standing in for a session or JWT guard. */
@Injectable()
class StaffGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    return context.switchToHttp().getRequest().headers['x-staff'] === 'yes';
  }
}

/** An alternative guard that throws rather than returning false, as Passport guards do. */
@Injectable()
class ThrowingGuard implements CanActivate {
  canActivate(): boolean {
    throw new Error('no session');
  }
}

class DashboardController {
  @AllowApiKeyOr(StaffGuard)
  stats() {}

  @AllowApiKeyOr(ThrowingGuard, StaffGuard)
  @RequireScopes('reports:write')
  export() {}
}

describe('ApiKeyGuard with @AllowApiKeyOr, resolved by Nest', () => {
  let guard: ApiKeyGuard;
  let service: ApiKeyService;
  let close: () => Promise<void>;

  beforeAll(async () => {
    Logger.overrideLogger(false);
    @Module({
      imports: [typeOrmFor(IN_MEMORY_SQLITE), ApiKeyModule.forRoot({ hasher: FAST_BCRYPT })],
      providers: [StaffGuard],
    })
    class DashboardModule {}
    const moduleRef = await Test.createTestingModule({ imports: [DashboardModule] }).compile();
    await moduleRef.init();
    guard = moduleRef.get(ApiKeyGuard);
    service = moduleRef.get(ApiKeyService);
    close = () => moduleRef.close();
  });
  afterAll(async () => {
    await close?.();
  });

  const stats = (headers: Record<string, string>) =>
    guard.canActivate(
      httpContext(headers, DashboardController.prototype.stats, DashboardController).context,
    );

  it('lets in a request that passes the other guard, with no key (DRF 11)', async () => {
    expect(await stats({ 'x-staff': 'yes' })).toBe(true);
  });

  it('lets in a request that passes the other guard even while sending a revoked key (DRF 12)', async () => {
    const { apiKey, key } = await service.create({ name: 'revoked-but-staff' });
    await service.revoke(apiKey.id);
    expect(await stats({ 'x-staff': 'yes', authorization: `Api-Key ${key}` })).toBe(true);
    await expect(stats({ authorization: `Api-Key ${key}` })).rejects.toBeInstanceOf(
      ApiKeyUnauthorizedException,
    );
  });

  it('lets in a valid key without the other guard, and refuses when both refuse', async () => {
    const { key } = await service.create({ name: 'or-key' });
    expect(await stats({ authorization: `Api-Key ${key}` })).toBe(true);
    await expect(stats({})).rejects.toBeInstanceOf(ApiKeyUnauthorizedException);
  });

  it("sends the key's own refusal (403) when every alternative refuses, even one that throws", async () => {
    const { key } = await service.create({ name: 'reader-only', scopes: ['reports:read'] });
    const exportRoute = (headers: Record<string, string>) =>
      guard.canActivate(
        httpContext(headers, DashboardController.prototype.export, DashboardController).context,
      );
    await expect(exportRoute({ authorization: `Api-Key ${key}` })).rejects.toBeInstanceOf(
      ApiKeyForbiddenException,
    );
    expect(await exportRoute({ authorization: `Api-Key ${key}`, 'x-staff': 'yes' })).toBe(true);
  });
});
