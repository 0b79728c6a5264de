import {
  Inject,
  Injectable,
  Logger,
  Optional,
  type CanActivate,
  type ExecutionContext,
  type Type,
} from '@nestjs/common';
import { ModuleRef, Reflector } from '@nestjs/core';
import { AlternativeGuards } from './request/alternatives.js';
import { DEFAULT_API_KEY_NAME } from './api-key.constants.js';
import type { AbstractApiKey } from './api-key.entity.js';
import { ApiKeyStoreUnavailableError } from './api-key.errors.js';
import {
  ApiKeyForbiddenException,
  ApiKeyUnauthorizedException,
  ApiKeyUnavailableException,
} from './api-key.exceptions.js';
import {
  authenticateChallenge,
  isHttpLike,
  readPresentedKey,
  resolveRequest,
  setResponseHeader,
} from './request/context.js';
import { putApiKeyOnRequest } from './request/key-property.js';
import {
  ApiKeyIpNotAllowedException,
  ApiKeyUsageExceededException,
} from './policies/exceptions.js';
import { creditsHeader, secondsToRefill } from './policies/headers.js';
import { missingScopes } from './policies/any-scopes.js';
import { API_KEY_EXPIRATION_HEADER, expirationHeaderValue } from './policies/expiry-notices.js';
import { missingRegistrationError } from './boot-checks/registrations.js';
import { EndOfTurnAnswers } from './request/end-of-turn.js';
import { RouteRulesCache } from './request/route-rules.js';
import { refusalOutcome, type ApiKeyUsageOutcome } from './usage/outcomes.js';
import {
  ApiKeyService,
  type ApiKeyFailureReason,
  type ApiKeyVerification,
} from './api-key.service.js';

/**
 * Why the guard refused a request: 401 with the key's failure reason (`missing` when none was
 * sent), 403 with the scopes the key lacks or because the client's address is not in the key's
 * allow-list, 429 for a key with no credits left, or 503 with the error of the unreadable key
 * store.
 *
 * @publicApi
 */
export type ApiKeyDenial<T extends AbstractApiKey = AbstractApiKey> =
  | { status: 401; reason: ApiKeyFailureReason | 'missing' }
  | { status: 403; missingScopes: string[] }
  | { status: 403; reason: 'ip_not_allowed' }
  | { status: 429; reason: 'usage_exceeded'; apiKey?: T }
  | { status: 503; error: ApiKeyStoreUnavailableError };

/** What the guard asks `verify()`: credits are spent after the scope check, not during it. */
const SKIP_CREDITS = { credit: 'skip' } as const;

/**
 * Lets a request through when it carries a usable API key holding every scope the route
 * requires (`@RequireScopes()`); refuses it with 401, 403 or 503 otherwise.
 *
 * - `@UseGuards(ApiKeyGuard, OtherGuard)`: both must pass (Nest's AND).
 * - `@AllowApiKeyOr(OtherGuard)`: a key OR any of the other guards (DRF's `HasAPIKey | IsAuthenticated`).
 * - As `APP_GUARD`: every route, except those marked `@SkipApiKey()`.
 *
 * A guard belongs to one registration (`ApiKeyGuard` to the default one, `createApiKeyGuard(name)`
 * to a named one) and honours only a `@SkipApiKey()` naming it.
 *
 * Built for subclassing: every step is a protected method. Override `getRequest` for a
 * transport of your own, `extractKey` for another place to read keys from, `validateKey` to
 * add checks, and the `deny*` methods to throw your own errors (a `WsException`, say).
 *
 * @publicApi
 */
@Injectable()
export class ApiKeyGuard<T extends AbstractApiKey = AbstractApiKey> implements CanActivate {
  protected readonly logger = new Logger('ApiKeyGuard');

  /** Resolves the guards named in `@AllowApiKeyOr()`. Property-injected so subclass constructors stay small. */
  @Optional()
  @Inject(ModuleRef)
  protected readonly moduleRef?: ModuleRef;

  private readonly routeRules = new RouteRulesCache(this.reflector, this.registration);
  private readonly alternativeGuards = new AlternativeGuards((guard, context) =>
    // Another registration's key guard offered as an alternative is asked for its key alone.
    guard instanceof ApiKeyGuard ? guard.acceptsKey(context) : guard.canActivate(context),
  );

  constructor(
    @Optional() @Inject(ApiKeyService) protected readonly apiKeyService: ApiKeyService<T>,
    protected readonly reflector: Reflector,
  ) {}

  /**
   * Registration whose keys guards of this class accept, as far as the class says: `default`
   * here, the name given to `createApiKeyGuard(name)` on its guards. Read at boot, before any
   * instance exists, to tell which registration a `@UseGuards()` entry belongs to.
   */
  static readonly registration: string = DEFAULT_API_KEY_NAME;

  /** Name of the registration whose keys this guard accepts: that of its `ApiKeyService`. */
  get registration(): string {
    return this.apiKeyService?.options?.name ?? DEFAULT_API_KEY_NAME;
  }

  /**
   * Checks at boot that the service of this guard's registration reached it: it is injected as
   * optional so that this check, not Nest's generic "can't resolve dependencies", names the fix.
   * A subclass overriding it calls `super.onModuleInit()`.
   *
   * @throws {ApiKeyConfigurationError} when the guard's module cannot see its registration, or none exists
   */
  onModuleInit(): void {
    if (this.apiKeyService) return;
    const guard = this.constructor as typeof ApiKeyGuard;
    throw missingRegistrationError(guard.name, guard.registration, this.moduleRef, this);
  }

  /**
   * Skips, authenticates, then, if the key is refused, tries the route's `@AllowApiKeyOr()`
   * guards before answering with the key's refusal. In notify mode the answer comes at the end of
   * the request's turn of the event loop, with the turn's other requests (`request/end-of-turn.ts`).
   *
   * @throws {ApiKeyUnauthorizedException} 401 when no usable key was sent (HTTP and GraphQL)
   * @throws {ApiKeyForbiddenException} 403 when the key lacks a required scope
   * @throws {ApiKeyUnavailableException} 503 when the key store cannot be read
   */
  canActivate(context: ExecutionContext): Promise<boolean> {
    return this.takesFastPath ? this.endOfTurn.add(context) : this.checkRequest(context);
  }

  /**
   * Notify mode's requests, answered at the end of their turn of the event loop, together: the
   * fast path where it can tell, else the full check (see `request/end-of-turn.ts` for why).
   */
  private readonly endOfTurn = new EndOfTurnAnswers<ExecutionContext>(
    (context) => this.passesAtOnce(context) || this.checkRequest(context),
  );

  /**
   * The fast path: whether the request may pass as far as can be told at once, with no read and
   * no wait (the route skipped, or its key's row cached and its digest memoised). `false` when it
   * cannot be told so, and the full check follows. The other hooks it calls are called as the
   * full check calls them.
   */
  private passesAtOnce(context: ExecutionContext): boolean {
    if (this.shouldSkip(context)) return true;
    const request = this.getRequest(context);
    const key = this.extractKey(request, context);
    if (key === null) return false;
    // `undefined` for a key with an IP allow-list or credits: the full check applies them.
    const result = this.apiKeyService.verifyAtOnce(key);
    // A refusal takes the full check, which logs, counts and denies it as it always has.
    if (result === undefined || !result.valid) return false;
    const apiKey = result.apiKey as T;
    if (missingScopes(this.getRequiredScopes(context), apiKey.scopes).length > 0) return false;
    // The expiration header is the full check's to set.
    const notices = this.apiKeyService.options.expiryNotices;
    if (apiKey.expiresAt !== null && notices && notices.header) return false;
    this.apiKeyService.recordOutcome('ok', apiKey.id, apiKey.prefix);
    this.onAuthenticated(request, apiKey, context);
    return true;
  }

  /**
   * Whether requests try the fast path: rows are cached (notify mode), and `authenticate` and
   * `validateKey` are this class's own, so that `passesAtOnce` may stand in for them and
   * overrides are never bypassed.
   */
  private readonly takesFastPath =
    this.authenticate === ApiKeyGuard.prototype.authenticate &&
    this.validateKey === ApiKeyGuard.prototype.validateKey &&
    // Optional: a guard whose registration is missing fails its boot check, never a request here.
    this.apiKeyService?.answersAtOnce === true;

  /** The full check: skip, authenticate, then the `@AllowApiKeyOr()` guards, then the refusal. */
  private async checkRequest(context: ExecutionContext): Promise<boolean> {
    if (this.shouldSkip(context)) return true;
    const request = this.getRequest(context);
    const denial = await this.authenticate(request, context);
    if (denial === null) return true;
    const alternatives = this.getAlternatives(context);
    if (
      alternatives.length > 0 &&
      (await this.alternativeGuards.anyPasses(alternatives, context, this.moduleRef, this.logger))
    )
      return true;
    return this.deny(context, denial);
  }

  /**
   * Whether a request carries a usable key of this registration holding the route's scopes,
   * regardless of `@SkipApiKey()` and `@AllowApiKeyOr()`: how this guard answers when it is
   * itself named in another guard's `@AllowApiKeyOr()`, so that it can neither open the route
   * by a skip nor send the request round the alternatives again. Puts the key on the request
   * when it passes; never throws a refusal.
   *
   * @throws whatever `extractKey` or `validateKey` throw, other than `ApiKeyStoreUnavailableError`
   */
  async acceptsKey(context: ExecutionContext): Promise<boolean> {
    return (await this.authenticate(this.getRequest(context), context)) === null;
  }

  /**
   * Whether this route is opened by a `@SkipApiKey()` naming this guard's registration; method
   * metadata overrides class metadata. Like the other route metadata, read once per handler and
   * class, as Nest reads its guards.
   */
  protected shouldSkip(context: ExecutionContext): boolean {
    return this.routeRules.get(context).skip;
  }

  /**
   * Scopes the route requires (`@RequireScopes()`, or `@RequireScopes.any()`, whose list is
   * tagged `anyOf`); method metadata overrides class metadata.
   */
  protected getRequiredScopes(context: ExecutionContext): string[] {
    return this.routeRules.get(context).scopes;
  }

  /** Guards named in `@AllowApiKeyOr()` for this route; method metadata overrides class metadata. */
  protected getAlternatives(context: ExecutionContext): Type<CanActivate>[] {
    return this.routeRules.get(context).alternatives;
  }

  /**
   * The request of the context: HTTP, GraphQL or WebSocket handshake. `undefined` for contexts
   * with no request, whose key is then missing.
   */
  protected getRequest(context: ExecutionContext): any {
    return resolveRequest(context);
  }

  /**
   * Reads the presented key: the raw value of the configured `header`, or else the part after
   * `<keyword> ` in `Authorization` (scheme matched exactly, case-insensitively; the key taken
   * verbatim). `null` when there is none, the header is not of that form or is sent more than
   * once (two answers to "which key?"), which the guard answers with 401.
   */
  protected extractKey(request: any, _context: ExecutionContext): string | null {
    const { header, keyword } = this.apiKeyService.options;
    return readPresentedKey(request, header, keyword);
  }

  /**
   * Verifies a presented key with the service. Override to add checks of your own (an IP
   * allow-list, say), returning `{ valid: false, reason }` to refuse.
   *
   * @throws {ApiKeyStoreUnavailableError} when the key store cannot be read
   */
  protected async validateKey(
    key: string,
    _context: ExecutionContext,
  ): Promise<ApiKeyVerification<T>> {
    // Credits are spent by `spendCredit()`, once the route's scopes have been checked.
    return this.apiKeyService.verify(key, SKIP_CREDITS) as Promise<ApiKeyVerification<T>>;
  }

  /**
   * The client's address, checked against a key's `allowedIps`: `request.ip`, which Express and
   * Fastify work out under the app's own trust-proxy setting (see docs/policies.md). `null` when
   * unknown, which no allow-list admits. Read only for keys that have one.
   */
  protected getClientIp(request: any, _context: ExecutionContext): string | null {
    return typeof request?.ip === 'string' ? request.ip : null;
  }

  /**
   * Runs extraction, validation and the scope check, and counts the outcome of a request that
   * carried a key (usage analytics). Returns `null` when the request may pass, or why it may not.
   *
   * @throws whatever `extractKey` or `validateKey` throw, other than `ApiKeyStoreUnavailableError`
   */
  protected async authenticate(
    request: any,
    context: ExecutionContext,
  ): Promise<ApiKeyDenial<T> | null> {
    const key = this.extractKey(request, context);
    if (key === null) return { status: 401, reason: 'missing' };
    let result: ApiKeyVerification<T>;
    try {
      result = await this.validateKey(key, context);
    } catch (error) {
      if (error instanceof ApiKeyStoreUnavailableError) return { status: 503, error };
      throw error;
    }
    if (!result.valid) {
      this.logger.debug(
        `API key refused (${result.reason})${result.prefix ? ` for prefix ${result.prefix}` : ''}.`,
      );
      this.apiKeyService.recordOutcome(
        refusalOutcome(result.reason),
        result.keyId ?? null,
        result.prefix,
      );
      if (result.reason === 'ip_not_allowed') return { status: 403, reason: result.reason };
      if (result.reason === 'usage_exceeded') return { status: 429, reason: result.reason };
      return { status: 401, reason: result.reason };
    }
    const apiKey = result.apiKey;
    // Policies are property reads for keys without them: no call, no await.
    if (
      apiKey.allowedIps != null &&
      !this.apiKeyService.isAddressAllowed(apiKey, this.getClientIp(request, context))
    )
      return this.counted(apiKey, 'forbidden', { status: 403, reason: 'ip_not_allowed' });
    const requiredScopes = this.getRequiredScopes(context);
    if (requiredScopes.length > 0) {
      const missing = missingScopes(requiredScopes, apiKey.scopes);
      if (missing.length > 0)
        return this.counted(apiKey, 'forbidden', { status: 403, missingScopes: missing });
    }
    if (apiKey.remaining != null && !this.routeRules.get(context).skipUsage) {
      const denial = await this.spendCredit(apiKey, context);
      if (denial?.status === 429) return this.counted(apiKey, 'usage_exceeded', denial);
      if (denial !== null) return denial;
    }
    const notices = this.apiKeyService.options.expiryNotices;
    if (notices && notices.header && apiKey.expiresAt !== null)
      setResponseHeader(
        context,
        API_KEY_EXPIRATION_HEADER,
        expirationHeaderValue(apiKey.expiresAt),
      );
    this.apiKeyService.recordOutcome('ok', apiKey.id, apiKey.prefix);
    this.onAuthenticated(request, apiKey, context);
    return null;
  }

  /**
   * Spends one credit of a usage-limited key for an accepted request, and tells the client what
   * is left in the `RateLimit` header (`"api-key-credits";r=41`).
   */
  protected async spendCredit(
    apiKey: T,
    context: ExecutionContext,
  ): Promise<ApiKeyDenial<T> | null> {
    try {
      if (!(await this.apiKeyService.spendCredit(apiKey)))
        return { status: 429, reason: 'usage_exceeded', apiKey };
    } catch (error) {
      if (error instanceof ApiKeyStoreUnavailableError) return { status: 503, error };
      throw error;
    }
    setResponseHeader(context, 'RateLimit', creditsHeader(apiKey.remaining ?? 0));
    return null;
  }

  /** Counts the refusal of a right key as `outcome` for usage analytics, and returns it. */
  private counted(
    apiKey: T,
    outcome: ApiKeyUsageOutcome,
    denial: ApiKeyDenial<T>,
  ): ApiKeyDenial<T> {
    this.apiKeyService.recordOutcome(outcome, apiKey.id, apiKey.prefix);
    return denial;
  }

  /**
   * Called once a key passed: puts it on the request for `@CurrentApiKey()`.
   */
  protected onAuthenticated(request: any, apiKey: T, _context: ExecutionContext): void {
    if (request && typeof request === 'object') putApiKeyOnRequest(request, apiKey);
  }

  /**
   * Answers a refusal. HTTP and GraphQL get an exception; WebSocket and RPC get `false`,
   * which Nest turns into its own `WsException`/`RpcException` (an `HttpException` there would
   * surface as "Internal server error").
   *
   * @throws {ApiKeyUnauthorizedException | ApiKeyForbiddenException | ApiKeyUnavailableException} from the `deny*` hooks
   */
  protected deny(context: ExecutionContext, denial: ApiKeyDenial<T>): boolean {
    switch (denial.status) {
      case 401:
        return this.denyUnauthorized(context, denial.reason);
      case 403:
        return 'missingScopes' in denial
          ? this.denyForbidden(context, denial.missingScopes)
          : this.denyIpNotAllowed(context);
      case 429:
        return this.denyUsageExceeded(context, denial.apiKey);
      case 503:
        return this.denyUnavailable(context, denial.error);
    }
  }

  /**
   * Refuses a request without a usable key. In HTTP, sets `WWW-Authenticate` and throws.
   *
   * @throws {ApiKeyUnauthorizedException} 401 in HTTP and GraphQL contexts; returns `false` elsewhere
   */
  protected denyUnauthorized(
    context: ExecutionContext,
    _reason: ApiKeyFailureReason | 'missing',
  ): boolean {
    if (!isHttpLike(context)) return false;
    const { keyword, realm, header } = this.apiKeyService.options;
    setResponseHeader(context, 'WWW-Authenticate', authenticateChallenge(keyword, realm, header));
    throw new ApiKeyUnauthorizedException();
  }

  /**
   * Refuses a valid key that lacks scopes.
   *
   * @throws {ApiKeyForbiddenException} 403 in HTTP and GraphQL contexts; returns `false` elsewhere
   */
  protected denyForbidden(context: ExecutionContext, missingScopes: string[]): boolean {
    if (!isHttpLike(context)) return false;
    throw new ApiKeyForbiddenException(missingScopes);
  }

  /**
   * Refuses a right key used from an address outside its `allowedIps`.
   *
   * @throws {ApiKeyIpNotAllowedException} 403 in HTTP and GraphQL contexts; returns `false` elsewhere
   */
  protected denyIpNotAllowed(context: ExecutionContext): boolean {
    if (!isHttpLike(context)) return false;
    throw new ApiKeyIpNotAllowedException();
  }

  /**
   * Refuses a right key with no credits left: `RateLimit` says `r=0`, and `Retry-After` the
   * seconds to its next refill when it has one.
   *
   * @throws {ApiKeyUsageExceededException} 429 in HTTP and GraphQL contexts; returns `false` elsewhere
   */
  protected denyUsageExceeded(context: ExecutionContext, apiKey: T | undefined): boolean {
    if (!isHttpLike(context)) return false;
    setResponseHeader(context, 'RateLimit', creditsHeader(0));
    const retryAfter = apiKey ? secondsToRefill(apiKey, this.apiKeyService.options.clock()) : null;
    if (retryAfter !== null) setResponseHeader(context, 'Retry-After', String(retryAfter));
    throw new ApiKeyUsageExceededException();
  }

  /**
   * Refuses a request because keys cannot be checked right now. Never lets it in.
   *
   * @throws {ApiKeyUnavailableException} 503 in HTTP and GraphQL contexts; returns `false` elsewhere
   */
  protected denyUnavailable(
    context: ExecutionContext,
    _error: ApiKeyStoreUnavailableError,
  ): boolean {
    if (!isHttpLike(context)) return false;
    setResponseHeader(context, 'Retry-After', '5');
    throw new ApiKeyUnavailableException();
  }
}
