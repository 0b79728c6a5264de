import 'reflect-metadata';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import {
  Injectable,
  Logger,
  Module,
  UseGuards,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { Test, type TestingModule } from '@nestjs/testing';
import { Entity } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAST_BCRYPT } from '../../test/support/key-store.js';
import { AllowApiKeyOr, SkipApiKey } from '../api-key.decorators.js';
import { AbstractApiKey } from '../api-key.entity.js';
import { ApiKeyUnauthorizedException } from '../api-key.exceptions.js';
import { createApiKeyGuard, registrationOfGuard } from './factory.js';
import { ImplicitApiKeyGuard } from './implicit.js';
import { ApiKeyGuard } from '../api-key.guard.js';
import { ApiKeyModule } from '../api-key.module.js';
import { ApiKeyService, getApiKeyServiceToken } from '../api-key.service.js';
import { IN_MEMORY_SQLITE, typeOrmFor } from '../../test/support/scenario-app.js';

@Entity('partner_keys')
class PartnerKey extends AbstractApiKey {}

const PartnerGuard = createApiKeyGuard<PartnerKey>('partner');

/** Passes requests that carry `x-session: yes`. */
@Injectable()
class SessionGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    return context.switchToHttp().getRequest().headers['x-session'] === 'yes';
  }
}

class Routes {
  @SkipApiKey()
  openToDefault() {}

  @SkipApiKey('partner')
  openToPartner() {}

  @SkipApiKey('default', 'partner')
  openToBoth() {}

  @UseGuards(PartnerGuard)
  @AllowApiKeyOr(SessionGuard)
  partnerOrSession() {}

  @AllowApiKeyOr(SessionGuard)
  defaultOrSession() {}

  /** Skipping the alternative's registration must not open the route through it. */
  @AllowApiKeyOr(PartnerGuard)
  @SkipApiKey('partner')
  defaultOrPartner() {}

  /** A guard offered as its own alternative must not send the request round forever. */
  @AllowApiKeyOr(PartnerGuard)
  orItself() {}
}

function context(route: keyof Routes, headers: Record<string, string> = {}) {
  const request = new IncomingMessage(new Socket());
  request.headers = headers;
  const host = new ExecutionContextHost(
    [request, new ServerResponse(request), () => undefined],
    Routes,
    Routes.prototype[route],
  );
  host.setType('http');
  return { context: host, request: request as IncomingMessage & { apiKey?: AbstractApiKey } };
}

describe('API key guards of several registrations', () => {
  let moduleRef: TestingModule;
  let defaultGuard: ApiKeyGuard;
  let partnerGuard: ApiKeyGuard<PartnerKey>;
  let implicitGuard: ImplicitApiKeyGuard;
  let partnerKey: string;
  let defaultKey: string;

  beforeAll(async () => {
    Logger.overrideLogger(false);
    @Module({
      imports: [
        typeOrmFor(IN_MEMORY_SQLITE),
        ApiKeyModule.forRoot({ hasher: FAST_BCRYPT }),
        ApiKeyModule.forRoot({ name: 'partner', entity: PartnerKey, hasher: FAST_BCRYPT }),
      ],
      providers: [SessionGuard, ImplicitApiKeyGuard],
    })
    class RegistrationsModule {}
    moduleRef = await Test.createTestingModule({ imports: [RegistrationsModule] }).compile();
    await moduleRef.init();
    defaultGuard = moduleRef.get(ApiKeyGuard);
    partnerGuard = moduleRef.get(PartnerGuard);
    implicitGuard = moduleRef.get(ImplicitApiKeyGuard);
    defaultKey = (await moduleRef.get(ApiKeyService).create({ name: 'default' })).key;
    partnerKey = (
      await moduleRef
        .get<ApiKeyService<PartnerKey>>(getApiKeyServiceToken('partner'))
        .create({ name: 'partner' })
    ).key;
  });
  afterAll(async () => {
    await moduleRef?.close();
  });

  const passes = (guard: CanActivate, ...args: Parameters<typeof context>) =>
    guard.canActivate(context(...args).context);

  it('know their registration, from an instance or from the class', () => {
    expect(defaultGuard.registration).toBe('default');
    expect(partnerGuard.registration).toBe('partner');
    class CookieGuard extends ApiKeyGuard {}
    expect(registrationOfGuard(ApiKeyGuard)).toBe('default');
    expect(registrationOfGuard(PartnerGuard)).toBe('partner');
    expect(registrationOfGuard(CookieGuard)).toBe('default');
    expect(registrationOfGuard(ImplicitApiKeyGuard)).toBe('default');
    expect(registrationOfGuard(partnerGuard)).toBe('partner');
    expect(registrationOfGuard(SessionGuard)).toBeUndefined();
    expect(registrationOfGuard(new SessionGuard())).toBeUndefined();
  });

  it('honour only a @SkipApiKey() naming their own registration', async () => {
    expect(await passes(defaultGuard, 'openToDefault')).toBe(true);
    await expect(passes(partnerGuard, 'openToDefault')).rejects.toBeInstanceOf(
      ApiKeyUnauthorizedException,
    );
    expect(await passes(partnerGuard, 'openToPartner')).toBe(true);
    await expect(passes(defaultGuard, 'openToPartner')).rejects.toBeInstanceOf(
      ApiKeyUnauthorizedException,
    );
    expect(await passes(defaultGuard, 'openToBoth')).toBe(true);
    expect(await passes(partnerGuard, 'openToBoth')).toBe(true);
  });

  it("the guard @AllowApiKeyOr() applies stands aside where the route names another registration's guard", async () => {
    expect(await passes(implicitGuard, 'partnerOrSession')).toBe(true);
    // Which leaves the partner guard, with the alternatives, as the key side.
    expect(await passes(partnerGuard, 'partnerOrSession', { 'x-session': 'yes' })).toBe(true);
    expect(
      await passes(partnerGuard, 'partnerOrSession', { authorization: `Api-Key ${partnerKey}` }),
    ).toBe(true);
    await expect(passes(partnerGuard, 'partnerOrSession')).rejects.toBeInstanceOf(
      ApiKeyUnauthorizedException,
    );
    // Where the route names none, it is the key side itself.
    await expect(passes(implicitGuard, 'defaultOrSession')).rejects.toBeInstanceOf(
      ApiKeyUnauthorizedException,
    );
    expect(await passes(implicitGuard, 'defaultOrSession', { 'x-session': 'yes' })).toBe(true);
  });

  it("asks another registration's guard named as an alternative for its key alone, never its skip", async () => {
    await expect(passes(defaultGuard, 'defaultOrPartner')).rejects.toBeInstanceOf(
      ApiKeyUnauthorizedException,
    );
    const { context: withPartnerKey, request } = context('defaultOrPartner', {
      authorization: `Api-Key ${partnerKey}`,
    });
    expect(await defaultGuard.canActivate(withPartnerKey)).toBe(true);
    expect(request.apiKey).toBeInstanceOf(PartnerKey);
    expect(
      await passes(defaultGuard, 'defaultOrPartner', { authorization: `Api-Key ${defaultKey}` }),
    ).toBe(true);
  });

  it('does not go round when a guard is offered as its own alternative', async () => {
    await expect(passes(partnerGuard, 'orItself')).rejects.toBeInstanceOf(
      ApiKeyUnauthorizedException,
    );
    expect(await partnerGuard.acceptsKey(context('orItself').context)).toBe(false);
  });
});
