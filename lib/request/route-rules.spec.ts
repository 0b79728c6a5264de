import 'reflect-metadata';
import type { CanActivate } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { describe, expect, it, vi } from 'vitest';
import { AllowApiKeyOr, RequireScopes, SkipApiKey } from '../api-key.decorators.js';
import { readRouteRules, RouteRulesCache, skippedRegistrations } from './route-rules.js';

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
    ).toEqual({ skip: false, scopes: [], alternatives: [], skipUsage: false });
  });

  it('takes class metadata, overridden (not merged) by method metadata', () => {
    const reflector = new Reflector();
    expect(readRouteRules(reflector, ReportsController.prototype.open, ReportsController)).toEqual({
      skip: true,
      scopes: ['reports:read'],
      alternatives: [],
      skipUsage: false,
    });
    expect(readRouteRules(reflector, ReportsController.prototype.write, ReportsController)).toEqual(
      { skip: false, scopes: ['reports:write'], alternatives: [SessionGuard], skipUsage: false },
    );
  });
});

class PartnerRoutesController {
  @SkipApiKey('partner')
  partnerOpen() {}

  @SkipApiKey('partner', 'default')
  bothOpen() {}
}

describe('skips by registration', () => {
  it('reads @SkipApiKey() as the default registration, a list as those names, false as none', () => {
    expect(skippedRegistrations(true)).toEqual(['default']);
    expect(skippedRegistrations(['partner', 'billing'])).toEqual(['partner', 'billing']);
    expect(skippedRegistrations(false)).toEqual([]);
    expect(skippedRegistrations(undefined)).toEqual([]);
  });

  it('skips a route for the guard of a registration it names, and only for that one', () => {
    const reflector = new Reflector();
    const skip = (handler: Function, owner: any, registration?: string) =>
      readRouteRules(reflector, handler, owner, registration).skip;
    const { partnerOpen, bothOpen } = PartnerRoutesController.prototype;
    expect(skip(partnerOpen, PartnerRoutesController)).toBe(false);
    expect(skip(partnerOpen, PartnerRoutesController, 'partner')).toBe(true);
    expect(skip(bothOpen, PartnerRoutesController, 'default')).toBe(true);
    expect(skip(bothOpen, PartnerRoutesController, 'partner')).toBe(true);
    expect(skip(ReportsController.prototype.open, ReportsController, 'partner')).toBe(false);
    expect(skip(ReportsController.prototype.open, ReportsController, 'default')).toBe(true);
  });

  it('keeps rules per registration in a cache made for it', () => {
    const context = new ExecutionContextHost(
      [],
      PartnerRoutesController as any,
      PartnerRoutesController.prototype.partnerOpen,
    );
    expect(new RouteRulesCache(new Reflector()).get(context).skip).toBe(false);
    expect(new RouteRulesCache(new Reflector(), 'partner').get(context).skip).toBe(true);
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
    // One read per decorator: skip, scopes, alternatives, skip usage.
    expect(reads).toHaveBeenCalledTimes(4);
    const classless = contextOf(ReportsController.prototype.write, undefined);
    cache.get(classless);
    expect(cache.get(classless)).toEqual(cache.get(write));
    expect(reads).toHaveBeenCalledTimes(12);
  });
});
