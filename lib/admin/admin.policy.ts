import { ForbiddenException } from '@nestjs/common';
import { ApiKeyAdminBadRequest } from './admin.errors.js';
import type { ResolvedOwnerPolicy } from './admin.options.js';

/**
 * A 403 naming the owner-policy rule a request breaks:
 * `{ statusCode, error, message, rule, fields? }`.
 *
 * @publicApi
 */
export class ApiKeyAdminPolicyRefusal extends ForbiddenException {
  constructor(rule: 'grantableScopes' | 'maxActiveKeys', message: string, field?: string) {
    super({
      statusCode: 403,
      error: 'Forbidden',
      message: `${field ?? rule}: ${message}`,
      rule,
      ...(field ? { fields: { [field]: message } } : {}),
    });
  }
}

/**
 * Applies `ownerPolicy` to one owner's requests in owner-scoped mode: the scopes it may grant,
 * how many active keys it may hold, and how long they may live.
 */
export class OwnerKeyPolicy {
  /** Per owner, the last create under way: an owner's creates run one at a time in a process. */
  private readonly creating = new Map<string, Promise<unknown>>();

  constructor(private readonly policy: ResolvedOwnerPolicy) {}

  /**
   * Checks scopes an owner gives a key, on create or update (`undefined`: none given).
   *
   * @throws {ApiKeyAdminPolicyRefusal} naming the scopes it may not grant, and those it may
   */
  async checkScopes(owner: string, scopes: readonly string[] | undefined): Promise<void> {
    if (!this.policy.grantableScopes || scopes === undefined) return;
    const grantable = new Set(await this.policy.grantableScopes(owner));
    const refused = scopes.filter((scope) => !grantable.has(scope));
    if (refused.length > 0)
      throw new ApiKeyAdminPolicyRefusal(
        'grantableScopes',
        `${refused.map((scope) => JSON.stringify(scope)).join(', ')} may not be granted here; grantable scopes: ${[...grantable].join(', ') || '(none)'}.`,
        'scopes',
      );
  }

  /**
   * The expiry of a new key: as given if the policy allows it; when not given, the longest
   * lifetime (or none, where that is allowed).
   *
   * @param expiresAt as given: a date, `null` for never, `undefined` when not given
   * @throws {ApiKeyAdminBadRequest} naming the rule an expiry breaks
   */
  expiryOnCreate(expiresAt: Date | null | undefined, now: Date): Date | null | undefined {
    const { maxLifetime, allowNoExpiry } = this.policy;
    if (expiresAt === undefined && maxLifetime !== null)
      return new Date(now.getTime() + maxLifetime);
    if (expiresAt === undefined && allowNoExpiry) return undefined;
    this.checkExpiry(expiresAt ?? null, now);
    return expiresAt;
  }

  /**
   * Checks an expiry an owner gives a key, on create or update, against the key's creation.
   *
   * @param expiresAt as given: a date, `null` for never, `undefined` when not given
   * @throws {ApiKeyAdminBadRequest} naming the rule it breaks
   */
  checkExpiry(expiresAt: Date | null | undefined, createdAt: Date): void {
    const { maxLifetime, allowNoExpiry } = this.policy;
    if (expiresAt === undefined) return;
    const longest = maxLifetime === null ? null : new Date(createdAt.getTime() + maxLifetime);
    if (expiresAt === null && !allowNoExpiry)
      throw new ApiKeyAdminBadRequest(
        'expiresAt',
        `keys here must expire${longest ? `, by ${longest.toISOString()} at the latest` : ''} (rule: allowNoExpiry).`,
        'allowNoExpiry',
      );
    if (expiresAt && longest && expiresAt > longest)
      throw new ApiKeyAdminBadRequest(
        'expiresAt',
        `keys here live at most ${readableLifetime(maxLifetime!)} from their creation: give ${longest.toISOString()} or earlier (rule: maxLifetime).`,
        'maxLifetime',
      );
  }

  /**
   * Runs `create` if the owner holds fewer active keys than allowed. An owner's creates are
   * serialized within this process, so concurrent ones cannot all pass one count.
   *
   * @param adds whether `create` adds an active key (a rotation without a grace period does not)
   * @param countActive the owner's active keys now
   * @throws {ApiKeyAdminPolicyRefusal} when the owner already holds the most allowed
   */
  async withinKeyLimit<R>(
    owner: string,
    countActive: () => Promise<number>,
    create: () => Promise<R>,
    adds = true,
  ): Promise<R> {
    const max = this.policy.maxActiveKeys;
    if (max === null || !adds) return create();
    const previous = this.creating.get(owner) ?? Promise.resolve();
    const run = previous.then(async () => {
      const active = await countActive();
      if (active >= max)
        throw new ApiKeyAdminPolicyRefusal(
          'maxActiveKeys',
          `this owner already holds ${active} active keys, the most allowed (${max}): revoke one first.`,
        );
      return create();
    });
    const settled = run.catch(() => undefined);
    this.creating.set(owner, settled);
    try {
      return await run;
    } finally {
      if (this.creating.get(owner) === settled) this.creating.delete(owner);
    }
  }
}

/** A lifetime as people read it: whole days or hours where it is some, else the duration. */
function readableLifetime(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000} days`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} hours`;
  return `${ms / 1000} seconds`;
}
