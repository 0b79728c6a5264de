import 'reflect-metadata';
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { Injectable, type CanActivate } from '@nestjs/common';
import {
  GUARDS_METADATA,
  ROUTE_ARGS_METADATA,
  SELF_DECLARED_DEPS_METADATA,
} from '@nestjs/common/constants.js';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { describe, expect, it } from 'vitest';
import {
  API_KEY_ALTERNATIVES_METADATA,
  API_KEY_MODULE_OPTIONS,
  API_KEY_SCOPES_METADATA,
  API_KEY_SKIP_METADATA,
} from './api-key.constants.js';
import {
  AllowApiKeyOr,
  CurrentApiKey,
  InjectApiKeyOptions,
  InjectApiKeyService,
  RequireScopes,
  SkipApiKey,
} from './api-key.decorators.js';
import { createApiKeyGuard } from './guards/factory.js';
import { ImplicitApiKeyGuard } from './guards/implicit.js';
import { ApiKeyGuard } from './api-key.guard.js';
import { ApiKeyService } from './api-key.service.js';

@Injectable()
class SessionGuard implements CanActivate {
  canActivate() {
    return true;
  }
}

@Injectable()
class JwtGuard implements CanActivate {
  canActivate() {
    return true;
  }
}

describe('@SkipApiKey', () => {
  @SkipApiKey()
  class PublicController {
    page() {}

    @SkipApiKey(false)
    privatePage() {}
  }

  class MixedController {
    @SkipApiKey()
    health() {}

    other() {}
  }

  it('marks a class or a method, and false protects a method again', () => {
    expect(Reflect.getMetadata(API_KEY_SKIP_METADATA, PublicController)).toBe(true);
    expect(
      Reflect.getMetadata(API_KEY_SKIP_METADATA, PublicController.prototype.page),
    ).toBeUndefined();
    expect(Reflect.getMetadata(API_KEY_SKIP_METADATA, PublicController.prototype.privatePage)).toBe(
      false,
    );
    expect(Reflect.getMetadata(API_KEY_SKIP_METADATA, MixedController.prototype.health)).toBe(true);
    expect(
      Reflect.getMetadata(API_KEY_SKIP_METADATA, MixedController.prototype.other),
    ).toBeUndefined();
    expect(Reflect.getMetadata(API_KEY_SKIP_METADATA, MixedController)).toBeUndefined();
  });

  it('names the registrations whose guards it skips; the default one is written as true', () => {
    class PartnerRoutes {
      @SkipApiKey('partner')
      one() {}

      @SkipApiKey('partner', 'default', 'partner')
      two() {}

      @SkipApiKey('default')
      three() {}
    }
    const skip = (method: Function) => Reflect.getMetadata(API_KEY_SKIP_METADATA, method);
    expect(skip(PartnerRoutes.prototype.one)).toEqual(['partner']);
    expect(skip(PartnerRoutes.prototype.two)).toEqual(['partner', 'default']);
    expect(skip(PartnerRoutes.prototype.three)).toBe(true);
  });

  // A well-formed name no guard of the route belongs to ('yes') is refused at boot by the route scanner.
  it.each([['not a name'], [''], [1], [null], [{}], [true, 'partner'], ['partner', false]])(
    'throws at decoration time for %j',
    (...values) => {
      expect(() => (SkipApiKey as (...args: unknown[]) => unknown)(...values)).toThrow(TypeError);
    },
  );
});

describe('@RequireScopes', () => {
  @RequireScopes('projects:read')
  class ProjectsController {
    list() {}

    @RequireScopes('projects:write', 'audit:write', 'projects:write')
    create() {}
  }

  it('writes the scopes on the class and on a method, without duplicates', () => {
    expect(Reflect.getMetadata(API_KEY_SCOPES_METADATA, ProjectsController)).toEqual([
      'projects:read',
    ]);
    expect(
      Reflect.getMetadata(API_KEY_SCOPES_METADATA, ProjectsController.prototype.create),
    ).toEqual(['projects:write', 'audit:write']);
    expect(
      Reflect.getMetadata(API_KEY_SCOPES_METADATA, ProjectsController.prototype.list),
    ).toBeUndefined();
  });

  it('throws at decoration time with no scope', () => {
    expect(() => RequireScopes()).toThrow(/at least one scope/);
  });

  it.each(['', 'has space', 'a,b', 'x'.repeat(101), 42, undefined, '*', 'projects:*'])(
    'throws at decoration time for scope %j',
    (scope) => {
      expect(() => RequireScopes('ok', scope as string)).toThrow(TypeError);
    },
  );
});

describe('@AllowApiKeyOr', () => {
  class ReportsController {
    @AllowApiKeyOr(SessionGuard, JwtGuard)
    list() {}
  }

  @AllowApiKeyOr(SessionGuard)
  class DashboardController {
    view() {}
  }

  it('records the alternatives and applies ApiKeyGuard itself, on a method', () => {
    expect(
      Reflect.getMetadata(API_KEY_ALTERNATIVES_METADATA, ReportsController.prototype.list),
    ).toEqual([SessionGuard, JwtGuard]);
    // The ApiKeyGuard that stands aside when the route names another registration's guard.
    expect(ImplicitApiKeyGuard.prototype).toBeInstanceOf(ApiKeyGuard);
    expect(Reflect.getMetadata(GUARDS_METADATA, ReportsController.prototype.list)).toEqual([
      ImplicitApiKeyGuard,
    ]);
    expect(Reflect.getMetadata(GUARDS_METADATA, ReportsController)).toBeUndefined();
  });

  it('does the same on a class', () => {
    expect(Reflect.getMetadata(API_KEY_ALTERNATIVES_METADATA, DashboardController)).toEqual([
      SessionGuard,
    ]);
    expect(Reflect.getMetadata(GUARDS_METADATA, DashboardController)).toEqual([
      ImplicitApiKeyGuard,
    ]);
    expect(
      Reflect.getMetadata(API_KEY_ALTERNATIVES_METADATA, DashboardController.prototype.view),
    ).toBeUndefined();
  });

  it('throws at decoration time with no guard', () => {
    expect(() => AllowApiKeyOr()).toThrow(/at least one other guard/);
  });

  it('throws at decoration time when given ApiKeyGuard, the key side of the OR already', () => {
    expect(() => AllowApiKeyOr(ApiKeyGuard)).toThrow(TypeError);
    expect(() => AllowApiKeyOr(SessionGuard, ApiKeyGuard)).toThrow(/key side of the OR already/);
    expect(() => AllowApiKeyOr(ImplicitApiKeyGuard)).toThrow(TypeError);
  });

  it("accepts another registration's key guard, or a subclass: which registration it is is known at boot", () => {
    const PartnerGuard = createApiKeyGuard('decorators-spec');
    class MyKeyGuard extends ApiKeyGuard {}
    class ListsPartnerKeys {
      @AllowApiKeyOr(SessionGuard, PartnerGuard, MyKeyGuard)
      list() {}
    }
    expect(
      Reflect.getMetadata(API_KEY_ALTERNATIVES_METADATA, ListsPartnerKeys.prototype.list),
    ).toEqual([SessionGuard, PartnerGuard, MyKeyGuard]);
  });

  it('throws at decoration time for something that is not a class', () => {
    expect(() => AllowApiKeyOr(undefined as any)).toThrow(TypeError);
    expect(() => AllowApiKeyOr('SessionGuard' as any)).toThrow(TypeError);
  });
});

describe('@CurrentApiKey', () => {
  class MeController {
    me(@CurrentApiKey() _apiKey: unknown) {}
  }

  /** The factory Nest calls to fill the parameter, as registered by the decorator. */
  function parameterFactory() {
    const args = Reflect.getMetadata(ROUTE_ARGS_METADATA, MeController, 'me') as Record<
      string,
      { index: number; factory: Function }
    >;
    const [entry] = Object.values(args);
    expect(entry.index).toBe(0);
    return entry.factory;
  }

  it('hands the handler the key the guard put on the request, in HTTP and WebSocket contexts', () => {
    const factory = parameterFactory();
    const apiKey = { id: 'k1', name: 'reader' };
    const request = Object.assign(new IncomingMessage(new Socket()), { apiKey });
    const http = new ExecutionContextHost([request, {}, () => undefined]);
    http.setType('http');
    expect(factory(undefined, http)).toBe(apiKey);

    const ws = new ExecutionContextHost([{ handshake: { headers: {}, apiKey } }, {}]);
    ws.setType('ws');
    expect(factory(undefined, ws)).toBe(apiKey);
  });

  it('gives undefined when no key passed, or there is no request', () => {
    const factory = parameterFactory();
    const http = new ExecutionContextHost([new IncomingMessage(new Socket()), {}, () => undefined]);
    http.setType('http');
    expect(factory(undefined, http)).toBeUndefined();
    const rpc = new ExecutionContextHost([{}, {}]);
    rpc.setType('rpc');
    expect(factory(undefined, rpc)).toBeUndefined();
  });
});

describe('@InjectApiKeyService and @InjectApiKeyOptions', () => {
  class Consumer {
    constructor(
      @InjectApiKeyService() readonly defaultService: unknown,
      @InjectApiKeyService('partner') readonly partnerService: unknown,
      @InjectApiKeyOptions() readonly options: unknown,
      @InjectApiKeyOptions('partner') readonly partnerOptions: unknown,
    ) {}
  }

  it('injects the tokens of the default and of a named registration', () => {
    const deps = (
      Reflect.getMetadata(SELF_DECLARED_DEPS_METADATA, Consumer) as Array<{
        index: number;
        param: unknown;
      }>
    )
      .slice()
      .sort((a, b) => a.index - b.index)
      .map((d) => d.param);
    expect(deps).toEqual([
      ApiKeyService,
      'API_KEY:SERVICE:partner',
      API_KEY_MODULE_OPTIONS,
      `${API_KEY_MODULE_OPTIONS}:partner`,
    ]);
  });
});
