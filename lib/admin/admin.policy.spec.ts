import 'reflect-metadata';
import { describe, expect, it } from 'vitest';
import {
  ApiKeyAdminConfigurationError,
  resolveAdminOptions,
  type ApiKeyOwnerPolicy,
} from './admin.options.js';
import { ApiKeyAdminPolicyRefusal, OwnerKeyPolicy } from './admin.policy.js';

const guard = { canActivate: () => true };
const policyOf = (ownerPolicy: ApiKeyOwnerPolicy) =>
  resolveAdminOptions({
    path: 'keys',
    guard,
    ownerColumn: 'tenantId',
    owner: () => 'a',
    ownerPolicy,
  }).ownerPolicy;

describe('ownerPolicy at boot', () => {
  it.each([
    [{ grantableScopes: ['has space'] }, 'ownerPolicy.grantableScopes', /Fix: list the scopes/],
    [{ grantableScopes: 'orders:read' }, 'ownerPolicy.grantableScopes', /Fix: list the scopes/],
    [{ maxActiveKeys: 0 }, 'ownerPolicy.maxActiveKeys', /Fix: give the most active keys/],
    [{ maxActiveKeys: 2.5 }, 'ownerPolicy.maxActiveKeys', /Fix: give the most active keys/],
    [{ maxLifetime: 'a while' }, 'ownerPolicy.maxLifetime', /Fix: give the longest/],
    [{ maxLifetime: -1 }, 'ownerPolicy.maxLifetime', /Fix: give the longest/],
    [
      { maxLifetime: '30d', allowNoExpiry: true },
      'ownerPolicy.allowNoExpiry',
      /outlive maxLifetime/,
    ],
  ] as [ApiKeyOwnerPolicy, string, RegExp][])(
    'refuses %j, naming %s and the fix',
    (policy, option, fix) => {
      let error: unknown;
      try {
        policyOf(policy);
      } catch (thrown) {
        error = thrown;
      }
      expect(error).toBeInstanceOf(ApiKeyAdminConfigurationError);
      expect((error as Error).message).toContain(`option "${option}"`);
      expect((error as Error).message).toMatch(fix);
    },
  );

  it('refuses a policy without owner-scoped mode, where it would limit nobody', () => {
    expect(() =>
      resolveAdminOptions({
        path: 'keys',
        guard,
        ownerColumn: 'tenantId',
        ownerPolicy: { maxActiveKeys: 1 },
      }),
    ).toThrow(/option "ownerPolicy".*Fix: add owner/);
  });

  it('reads a lifetime given as a duration, and then allows no key that never expires', () => {
    expect(policyOf({ maxLifetime: '2w' })).toMatchObject({
      maxLifetime: 14 * 86_400_000,
      allowNoExpiry: false,
    });
    expect(policyOf({})).toMatchObject({
      maxLifetime: null,
      allowNoExpiry: true,
      maxActiveKeys: null,
    });
  });
});

describe('OwnerKeyPolicy', () => {
  it('asks a grantableScopes function for the scopes of each owner', async () => {
    const policy = new OwnerKeyPolicy(
      policyOf({ grantableScopes: async (owner) => (owner === 'gold' ? ['a', 'b'] : ['a']) }),
    );
    await expect(policy.checkScopes('gold', ['a', 'b'])).resolves.toBeUndefined();
    await expect(policy.checkScopes('basic', ['a', 'b'])).rejects.toBeInstanceOf(
      ApiKeyAdminPolicyRefusal,
    );
    await expect(policy.checkScopes('basic', undefined)).resolves.toBeUndefined();
  });

  it('serializes one owner’s creates, so a count is never read before the previous create is done', async () => {
    const policy = new OwnerKeyPolicy(policyOf({ maxActiveKeys: 2 }));
    let stored = 0;
    const create = async () => {
      await new Promise<void>((resolve) => setImmediate(resolve));
      return ++stored;
    };
    const results = await Promise.allSettled(
      Array.from({ length: 5 }, () => policy.withinKeyLimit('a', async () => stored, create)),
    );
    expect(results.map((r) => r.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'rejected',
      'rejected',
      'rejected',
    ]);
    expect(stored).toBe(2);
  });
});
