import 'reflect-metadata';
import type { CanActivate } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { describe, expect, it, vi } from 'vitest';
import { AllowApiKeyOr, RequireScopes, SkipApiKey } from './api-key.decorators.js';
import { readRouteRules, RouteRulesCache } from './api-key.route-rules.js';

class SessionGuard implements CanActivate {
  canActivate() {
    return true;
  }
}

@SkipApiKey()
@RequireScopes('reports:read')
class ReportsController {
  open() {}

  @SkipApiKey(false)
  @RequireScopes('reports:write')
  @AllowApiKeyOr(SessionGuard)
  write() {}
}

class PlainController {
  plain() {}
}

describe('readRouteRules', () => {
  it('asks for nothing when a route has no API key decorators', () => {
    expect(
      readRouteRules(new Reflector(), PlainController.prototype.plain, PlainController),
    ).toEqual({ skip: false, scopes: [], alternatives: [] });
  });

  it('takes class metadata, overridden (not merged) by method metadata', () => {
    const reflector = new Reflector();
    expect(readRouteRules(reflector, ReportsController.prototype.open, ReportsController)).toEqual({
      skip: true,
      scopes: ['reports:read'],
      alternatives: [],
    });
    expect(readRouteRules(reflector, ReportsController.prototype.write, ReportsController)).toEqual(
      { skip: false, scopes: ['reports:write'], alternatives: [SessionGuard] },
    );
  });
});

describe('RouteRulesCache', () => {
  const contextOf = (handler: Function | undefined, owner: Function | undefined) =>
    new ExecutionContextHost([], owner as any, handler as any);

  it('reads each handler and class once, and a context without a class every time', () => {
    const reflector = new Reflector();
    const reads = vi.spyOn(reflector, 'getAllAndOverride');
    const cache = new RouteRulesCache(reflector);
    const write = contextOf(ReportsController.prototype.write, ReportsController);
    expect(cache.get(write)).toBe(cache.get(write));
    expect(reads).toHaveBeenCalledTimes(3);
    const classless = contextOf(ReportsController.prototype.write, undefined);
    cache.get(classless);
    expect(cache.get(classless)).toEqual(cache.get(write));
    expect(reads).toHaveBeenCalledTimes(9);
  });
});
