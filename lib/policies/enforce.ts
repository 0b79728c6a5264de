import type { Repository } from 'typeorm';
import type { AbstractApiKey } from '../api-key.entity.js';
import type { ApiKeyPolicyRefusal, VerifyApiKeyOptions } from '../api-key.interfaces.js';
import { ApiKeyCredits, hasCredit } from './credits.js';
import { IpAllowLists } from './ip-allow-list.js';

/**
 * Applies a verified key's request policies, in the order that keeps a refused request from
 * costing anything: the IP allow-list first, then credits. The service calls it only for keys
 * that have one of them, so a key without policies costs no call, query or `await`.
 */
export class ApiKeyPolicies<T extends AbstractApiKey> {
  private readonly ipLists = new IpAllowLists();
  private readonly credits: ApiKeyCredits<T>;

  /**
   * @param runWrite runs a write within the store timeout, turning a failure into an outage
   */
  constructor(
    repository: Repository<T>,
    private readonly runWrite: <R>(action: string, write: () => Promise<R>) => Promise<R>,
  ) {
    this.credits = new ApiKeyCredits(repository);
  }

  /** Whether `apiKey` has a policy `admit()` applies. */
  static applyTo(apiKey: AbstractApiKey): boolean {
    return apiKey.allowedIps != null || apiKey.remaining != null;
  }

  /** Whether a request from `clientIp` may use `apiKey`: it has no allow-list, or the address is in it. */
  allowsAddress(apiKey: AbstractApiKey, clientIp: string | null | undefined): boolean {
    return apiKey.allowedIps == null || this.ipLists.allows(apiKey.allowedIps, clientIp);
  }

  /**
   * Why the request may not use the key, or `null` when it may, as `verify()`'s options ask.
   *
   * @throws {ApiKeyStoreUnavailableError} when a credit cannot be spent for want of the database
   */
  async admit(
    apiKey: T,
    now: Date,
    options: VerifyApiKeyOptions | undefined,
  ): Promise<ApiKeyPolicyRefusal | null> {
    const clientIp = options?.clientIp;
    if (
      apiKey.allowedIps != null &&
      clientIp !== undefined &&
      !this.allowsAddress(apiKey, typeof clientIp === 'function' ? clientIp() : clientIp)
    )
      return 'ip_not_allowed';
    const credit = options?.credit ?? 'check';
    if (apiKey.remaining == null || credit === 'skip') return null;
    if (credit === 'check') return hasCredit(apiKey, now) ? null : 'usage_exceeded';
    return (await this.spend(apiKey, now)) ? null : 'usage_exceeded';
  }

  /**
   * Spends one of a usage-limited key's credits, refilling it first when due, and sets
   * `apiKey.remaining` to what is left. `true` for a key without a limit, with no write.
   *
   * @throws {ApiKeyStoreUnavailableError} when the database cannot be written
   */
  async spend(apiKey: T, now: Date): Promise<boolean> {
    if (apiKey.remaining == null) return true;
    // The row was read for this request (or kept current by change notices): none left and no
    // refill due means none to spend, with no write, so a flood on a spent key costs reads only.
    if (!hasCredit(apiKey, now)) return false;
    const left = await this.runWrite('spend an API key credit', () =>
      this.credits.spend(apiKey, now),
    );
    if (left === null) {
      apiKey.remaining = 0;
      return false;
    }
    apiKey.remaining = left;
    return true;
  }
}
