import 'reflect-metadata';
import { UseGuards, type DynamicModule, type Type } from '@nestjs/common';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { GraphQLModule, Query, Resolver } from '@nestjs/graphql';
import { Test } from '@nestjs/testing';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { describe, expect, it } from 'vitest';
import { ApiKeyConfigurationError, ApiKeyGuard, RequireScopes } from '../../lib/index.js';
import { ADAPTERS, type AdapterFactory } from '../support/http.js';
import {
  ClassScopesWithoutGuardController,
  GuardAndSkipController,
  HealthController,
  OrItselfController,
  PartnerController,
  ProjectsController,
  ReportsController,
  ScopesWithoutGuardController,
  SkipPartnerWithoutPartnerGuardController,
  SkipUnknownRegistrationController,
  SkipWithoutGuardController,
  SkippedOrController,
  SkippedScopesController,
  TwoRegistrationsOrController,
  scannerApp,
} from './route-scanner.app.js';

@Resolver()
class UnguardedResolver {
  @Query(() => String)
  @RequireScopes('admin')
  secret(): string {
    return 'classified';
  }
}

@Resolver()
class GuardedResolver {
  @Query(() => String)
  @UseGuards(ApiKeyGuard)
  @RequireScopes('admin')
  secret(): string {
    return 'classified';
  }
}

@WebSocketGateway()
class UnguardedGateway {
  @SubscribeMessage('secret')
  @RequireScopes('admin')
  secret() {
    return 'classified';
  }
}

const graphql = () =>
  GraphQLModule.forRoot<ApolloDriverConfig>({ driver: ApolloDriver, autoSchemaFile: true });

/** Boots the module; the error it fails with, or `null` when it boots (and is closed again). */
async function bootError(module: DynamicModule, adapter: AdapterFactory): Promise<unknown> {
  const moduleRef = await Test.createTestingModule({ imports: [module] }).compile();
  const app = moduleRef.createNestApplication(adapter() as any, { logger: false });
  try {
    await app.init();
  } catch (error) {
    await app.close().catch(() => undefined);
    return error;
  }
  await app.close();
  return null;
}

/** Asserts the app refuses to boot, naming the decorator, the route and a fix. */
async function expectRefused(
  module: DynamicModule,
  adapter: AdapterFactory,
  expected: { option: string; route: string; problem: RegExp; fix: RegExp },
): Promise<void> {
  const error = await bootError(module, adapter);
  expect(error, 'the app booted').toBeInstanceOf(ApiKeyConfigurationError);
  const { option, message } = error as ApiKeyConfigurationError;
  expect(option).toBe(expected.option);
  expect(message).toContain(expected.route);
  const [problem, fix] = message.split(' Fix: ');
  expect(problem).toMatch(expected.problem);
  expect(fix).toMatch(expected.fix);
}

/**
 * No combination of the API key decorators may leave a route open, or do nothing, while it reads
 * as protected: the app refuses to boot, naming the route and the fix.
 */
describe.each(ADAPTERS)('route scanner on %s', (_platform, adapter) => {
  const refused = (
    controllers: Type[],
    expected: Parameters<typeof expectRefused>[2],
    options?: Parameters<typeof scannerApp>[1],
  ) => expectRefused(scannerApp(controllers, options), adapter, expected);

  it('refuses @RequireScopes() on a route no API key guard protects', async () => {
    await refused([ScopesWithoutGuardController], {
      option: '@RequireScopes()',
      route: 'ScopesWithoutGuardController.admin',
      problem: /requires scope "admin", but no API key guard protects it/,
      fix: /@UseGuards\(ApiKeyGuard\)/,
    });
    await refused([ClassScopesWithoutGuardController], {
      option: '@RequireScopes()',
      route: 'ClassScopesWithoutGuardController.list',
      problem: /no API key guard protects it/,
      fix: /@UseGuards\(ApiKeyGuard\)/,
    });
  });

  it('refuses @RequireScopes() or @AllowApiKeyOr() beside a @SkipApiKey() that skips every key guard', async () => {
    await refused([SkippedOrController], {
      option: '@AllowApiKeyOr()',
      route: 'SkippedOrController.either',
      problem:
        /offers UserSessionGuard as an alternative to a key, but @SkipApiKey\(\) skips every API key guard/,
      fix: /remove @SkipApiKey\(\)/,
    });
    await refused(
      [SkippedScopesController],
      {
        option: '@RequireScopes()',
        route: 'SkippedScopesController.admin',
        problem: /skips every API key guard of it \("default"\)/,
        fix: /remove @SkipApiKey\(\)/,
      },
      { global: true },
    );
  });

  it('refuses a @SkipApiKey() naming a registration no guard of the route belongs to', async () => {
    await refused(
      [SkipPartnerWithoutPartnerGuardController],
      {
        option: '@SkipApiKey()',
        route: 'SkipPartnerWithoutPartnerGuardController.open',
        problem: /skips the guard of registration "partner", but no such guard protects this route/,
        fix: /@SkipApiKey\('default'\)/,
      },
      { global: true },
    );
    await refused(
      [SkipUnknownRegistrationController],
      {
        option: '@SkipApiKey()',
        route: 'SkipUnknownRegistrationController.open',
        problem: /registration "yes"/,
        fix: /name a registration whose guard runs here \("default"\)/,
      },
      { global: true },
    );
    await refused([SkipWithoutGuardController], {
      option: '@SkipApiKey()',
      route: 'SkipWithoutGuardController.open',
      problem:
        /@SkipApiKey\(\) on SkipWithoutGuardController.open skips the guard of registration "default"/,
      fix: /no API key guard runs on this route/,
    });
  });

  it('refuses a guard and a skip of it on the same method', async () => {
    await refused([GuardAndSkipController], {
      option: '@SkipApiKey()',
      route: 'GuardAndSkipController.open',
      problem:
        /declares @UseGuards\(ApiKeyGuard\) and skips it with @SkipApiKey\(\) on the same method/,
      fix: /remove one of the two/,
    });
  });

  it('refuses an OR whose key side is two registrations at once, or itself', async () => {
    await refused(
      [TwoRegistrationsOrController],
      {
        option: '@AllowApiKeyOr()',
        route: 'TwoRegistrationsOrController.either',
        problem: /keys of "default", "partner" are all required/,
        fix: /@SkipApiKey\('default'\) keeps "partner"/,
      },
      { global: true },
    );
    await refused([OrItselfController], {
      option: '@AllowApiKeyOr()',
      route: 'OrItselfController.either',
      problem: /offers ApiKeyGuard\(partner\) as an alternative to itself/,
      fix: /remove ApiKeyGuard\(partner\) from @AllowApiKeyOr\(\)/,
    });
  });

  it('scans GraphQL resolvers and WebSocket gateways too', async () => {
    await refused(
      [],
      {
        option: '@RequireScopes()',
        route: 'UnguardedResolver.secret',
        problem: /no API key guard protects it/,
        fix: /@UseGuards\(ApiKeyGuard\)/,
      },
      { imports: [graphql()], providers: [UnguardedResolver] },
    );
    await refused(
      [],
      {
        option: '@RequireScopes()',
        route: 'UnguardedGateway.secret',
        problem: /no API key guard protects it/,
        fix: /@UseGuards\(ApiKeyGuard\)/,
      },
      { providers: [UnguardedGateway] },
    );
    expect(
      await bootError(
        scannerApp([], { imports: [graphql()], providers: [GuardedResolver] }),
        adapter,
      ),
    ).toBeNull();
  });

  it('boots the documented forms, with and without a global guard', async () => {
    expect(
      await bootError(scannerApp([HealthController, PartnerController], { global: true }), adapter),
    ).toBeNull();
    expect(
      await bootError(scannerApp([ProjectsController, ReportsController]), adapter),
    ).toBeNull();
    expect(
      await bootError(
        scannerApp([HealthController, ProjectsController], { global: true }),
        adapter,
      ),
    ).toBeNull();
  });
});
