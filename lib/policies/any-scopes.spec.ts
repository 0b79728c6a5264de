import 'reflect-metadata';
import { GUARDS_METADATA } from '@nestjs/common/constants.js';
import { describe, expect, it } from 'vitest';
import { API_KEY_SCOPES_METADATA } from '../api-key.constants.js';
import { RequireScopes } from '../api-key.decorators.js';
import { ApiKeyDecoratedRouteCheck } from '../boot-checks/decorated-route.js';
import { anyOfScopes, isAnyOf, missingScopes } from './any-scopes.js';

describe('@RequireScopes.any()', () => {
  class Reports {
    @RequireScopes.any('reports:read', 'admin', 'admin')
    list() {}

    @RequireScopes('reports:read', 'admin')
    both() {}
  }

  it('stores its scopes where @RequireScopes() does, tagged any-of, with the boot check guard', () => {
    const anyOf = Reflect.getMetadata(API_KEY_SCOPES_METADATA, Reports.prototype.list);
    expect(anyOf).toEqual(['reports:read', 'admin']);
    expect(isAnyOf(anyOf)).toBe(true);
    expect(isAnyOf(Reflect.getMetadata(API_KEY_SCOPES_METADATA, Reports.prototype.both))).toBe(
      false,
    );
    // The guard through which a route no API key guard checks is refused at boot, as for @RequireScopes().
    expect(Reflect.getMetadata(GUARDS_METADATA, Reports.prototype.list)).toEqual([
      ApiKeyDecoratedRouteCheck,
    ]);
  });

  it('refuses no scope and invalid scopes at decoration time', () => {
    expect(() => RequireScopes.any()).toThrow(/@RequireScopes.any\(\) needs at least one scope/);
    expect(() => RequireScopes.any('ok', 'not ok')).toThrow(/"not ok" is not a valid scope/);
  });
});

describe('missingScopes', () => {
  it('needs every scope of an all-of list and one of an any-of list', () => {
    expect(missingScopes(['a', 'b'], ['b'])).toEqual(['a']);
    expect(missingScopes(anyOfScopes(['a', 'b']), ['b'])).toEqual([]);
    expect(missingScopes(anyOfScopes(['a', 'b']), ['c'])).toEqual(['a', 'b']);
    expect(missingScopes(anyOfScopes(['a', 'b']), [])).toEqual(['a', 'b']);
  });
});
