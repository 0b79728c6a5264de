import 'reflect-metadata';
import { Injectable, type CanActivate } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { createApiKeyGuard } from '../guards/factory.js';
import { ApiKeyGuard } from '../api-key.guard.js';
import { anyOfScopes } from '../policies/any-scopes.js';
import type { KeyGuardOnRoute, KeyGuardsOfRoute } from '../boot-checks/route-checks.js';
import {
  API_KEY_ALTERNATIVES_EXTENSION,
  API_KEY_ANY_SCOPES_EXTENSION,
  API_KEY_SCOPES_EXTENSION,
  describeOperation,
  type OperationSchemes,
} from './api-key-swagger.operations.js';

@Injectable()
class UserTokenGuard implements CanActivate {
  canActivate() {
    return true;
  }
}

@Injectable()
class SessionGuard implements CanActivate {
  canActivate() {
    return true;
  }
}

const PartnerKeyGuard = createApiKeyGuard('partners');

/** A route as the route scanner works it out: the guards that check a key, and its decorators. */
function route(
  checking: string[],
  decorators: { scopes?: string[]; alternatives?: unknown[]; skipUsage?: boolean } = {},
): KeyGuardsOfRoute {
  const guards: KeyGuardOnRoute[] = checking.map((registration) => ({
    guard: registration === 'default' ? ApiKeyGuard : createApiKeyGuard(registration),
    registration,
  }));
  return {
    decorators: { skipped: [], scopes: [], alternatives: [], ...decorators },
    guards,
    checking: guards,
  };
}

const openApi31: OperationSchemes = { scopesInRequirements: true };
const openApi30: OperationSchemes = { scopesInRequirements: false };

describe('describeOperation', () => {
  it('leaves a route no key guard checks open', () => {
    expect(describeOperation(route([]), openApi31)).toBeUndefined();
  });

  it('requires the scheme of each registration checking the route, with 401, 403, 429 and 503', () => {
    const operation = describeOperation(route(['default']), openApi31)!;
    expect(operation.registrations).toEqual(['default']);
    expect(operation.security).toEqual([{ 'api-key': [] }]);
    // Any key may carry an allow-list (403) and credits (429).
    expect(Object.keys(operation.responses).sort()).toEqual(['401', '403', '429', '503']);
    expect(operation.responses[403].description).toMatch(/allow-list/);
    // A route that spends no credits never answers 429 for them.
    const free = describeOperation(route(['default'], { skipUsage: true }), openApi31)!;
    expect(Object.keys(free.responses).sort()).toEqual(['401', '403', '503']);
    expect(operation.extensions).toEqual({});

    // Two guards of one route are both required: one requirement naming both schemes.
    expect(describeOperation(route(['default', 'partners']), openApi31)!.security).toEqual([
      { 'api-key': [], 'api-key-partners': [] },
    ]);
  });

  it('lists scopes in the requirement under 3.1 only, and in the extension and the 403 always', () => {
    const scoped = route(['default'], { scopes: ['projects:write'] });
    const under31 = describeOperation(scoped, openApi31)!;
    expect(under31.security).toEqual([{ 'api-key': ['projects:write'] }]);
    expect(under31.extensions).toEqual({ [API_KEY_SCOPES_EXTENSION]: ['projects:write'] });
    expect(under31.responses[403].description).toBe(
      "The API key lacks scope `projects:write`, or the client's address is not in the API key's allow-list.",
    );

    const under30 = describeOperation(scoped, openApi30)!;
    expect(under30.security).toEqual([{ 'api-key': [] }]);
    expect(under30.extensions).toEqual(under31.extensions);
    expect(under30.responses[403]).toEqual(under31.responses[403]);
  });

  it('shows @RequireScopes.any() as one requirement per scope under 3.1, and in its own extension', () => {
    const scoped = route(['default'], { scopes: anyOfScopes(['reports:read', 'admin']) });
    const under31 = describeOperation(scoped, openApi31)!;
    expect(under31.security).toEqual([{ 'api-key': ['reports:read'] }, { 'api-key': ['admin'] }]);
    expect(under31.extensions).toEqual({
      [API_KEY_ANY_SCOPES_EXTENSION]: ['reports:read', 'admin'],
    });
    expect(under31.responses[403].description).toMatch(
      /^The API key holds none of the scopes `reports:read`, `admin` \(it needs one\)/,
    );
    expect(describeOperation(scoped, openApi30)!.security).toEqual([{ 'api-key': [] }]);
  });

  it('lists @AllowApiKeyOr() alternatives as alternative requirements, naming guards without a scheme', () => {
    const operation = describeOperation(
      route(['default'], {
        scopes: ['reports:read'],
        alternatives: [PartnerKeyGuard, UserTokenGuard, SessionGuard],
      }),
      { ...openApi31, alternativeSchemes: new Map([[UserTokenGuard, 'bearer']]) },
    )!;
    expect(operation.registrations).toEqual(['default', 'partners']);
    // Another registration's key needs the scopes too; the user token's scheme has none.
    expect(operation.security).toEqual([
      { 'api-key': ['reports:read'] },
      { 'api-key-partners': ['reports:read'] },
      { bearer: [] },
    ]);
    expect(operation.extensions[API_KEY_ALTERNATIVES_EXTENSION]).toEqual(['SessionGuard']);
  });
});
