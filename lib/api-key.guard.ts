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
import { isObservable, lastValueFrom } from 'rxjs';
import {
  API_KEY_ALTERNATIVES_METADATA,
  API_KEY_REQUEST_PROPERTY,
  API_KEY_SCOPES_METADATA,
  API_KEY_SKIP_METADATA,
  DEFAULT_API_KEY_NAME,
} from './api-key.constants.js';
import type { AbstractApiKey } from './api-key.entity.js';
import { ApiKeyStoreUnavailableError } from './api-key.errors.js';
import {
  ApiKeyForbiddenException,
  ApiKeyUnauthorizedException,
  ApiKeyUnavailableException,
} from './api-key.exceptions.js';
import { resolveRequest } from './api-key.request.js';
import {
  ApiKeyService,
  getApiKeyServiceToken,
  type ApiKeyFailureReason,
  type ApiKeyVerification,
} from './api-key.service.js';

/**
 * Why the guard refused a request: a failure reason of the key, `missing` when none was
 * sent, or `unavailable` when the key store could not be read.
 *
 * @publicApi
 */
export type ApiKeyDenial =
  | { status: 401; reason: ApiKeyFailureReason | 'missing' }
  | { status: 403; missingScopes: string[] }
  | { status: 503; error: ApiKeyStoreUnavailableError };

/** What a route's decorators ask of the guard. */
interface RouteRules {
  skip: boolean;
  scopes: string[];
  alternatives: Type<CanActivate>[];
}

/**
 * Lets a request through when it carries a usable API key holding every scope the route
 * requires (`@RequireScopes()`); refuses it with 401, 403 or 503 otherwise.
 *
 * - `@UseGuards(ApiKeyGuard, OtherGuard)`: both must pass (Nest's AND).
 * - `@AllowApiKeyOr(OtherGuard)`: a key OR any of the other guards (DRF's `HasAPIKey | IsAuthenticated`).
 * - As `APP_GUARD`: every route, except those marked `@SkipApiKey()`.
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

  private readonly alternativeInstances = new Map<Type<CanActivate>, Promise<CanActivate>>();

  /** Route metadata by controller class, then handler (one handler can serve several classes by inheritance). */
  private readonly rulesByClass = new WeakMap<object, WeakMap<object, RouteRules>>();

  constructor(
    @Inject(ApiKeyService) protected readonly apiKeyService: ApiKeyService<T>,
    protected readonly reflector: Reflector,
  ) {}

  /**
   * @throws {ApiKeyUnauthorizedException} 401 when no usable key was sent (HTTP and GraphQL)
   * @throws {ApiKeyForbiddenException} 403 when the key lacks a required scope
   * @throws {ApiKeyUnavailableException} 503 when the key store cannot be read
   */
  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (this.shouldSkip(context)) return true;
    const request = this.getRequest(context);
    const denial = await this.authenticate(request, context);
    if (denial === null) return true;
    const alternatives = this.getAlternatives(context);
    if (alternatives.length > 0 && (await this.anyAlternativePasses(alternatives, context)))
      return true;
    return this.deny(context, denial);
  }

  /**
   * Whether this route is opened by `@SkipApiKey()`; method metadata overrides class metadata.
   * Like the other route metadata, read once per handler and class, as Nest reads its guards.
   *
   * @throws never
   */
  protected shouldSkip(context: ExecutionContext): boolean {
    return this.routeRules(context).skip;
  }

  /**
   * Scopes the route requires (`@RequireScopes()`); method metadata overrides class metadata.
   *
   * @throws never
   */
  protected getRequiredScopes(context: ExecutionContext): string[] {
    return this.routeRules(context).scopes;
  }

  /**
   * Guards named in `@AllowApiKeyOr()` for this route; method metadata overrides class metadata.
   *
   * @throws never
   */
  protected getAlternatives(context: ExecutionContext): Type<CanActivate>[] {
    return this.routeRules(context).alternatives;
  }

  /**
   * The request of the context: HTTP, GraphQL or WebSocket handshake.
   *
   * @throws never; returns `undefined` for contexts with no request (the key is then missing)
   */
  protected getRequest(context: ExecutionContext): any {
    return resolveRequest(context);
  }

  /**
   * Reads the presented key: the raw value of the configured `header`, or else the part after
   * `<keyword> ` in `Authorization` (scheme matched exactly, case-insensitively; the key taken
   * verbatim). `null` when there is none or the header is not of that form.
   *
   * @throws never: a malformed header yields `null`, which the guard answers with 401
   */
  protected extractKey(request: any, _context: ExecutionContext): string | null {
    const headers = request?.headers;
    if (!headers || typeof headers !== 'object') return null;
    const { header, keyword } = this.apiKeyService.options;
    if (header !== null) {
      const value = headers[header];
      return typeof value === 'string' && value !== '' ? value : null;
    }
    const authorization = headers.authorization;
    if (typeof authorization !== 'string') return null;
    const space = authorization.indexOf(' ');
    if (space <= 0 || authorization.slice(0, space).toLowerCase() !== keyword.toLowerCase())
      return null;
    return authorization.slice(space + 1);
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
    return this.apiKeyService.verify(key) as Promise<ApiKeyVerification<T>>;
  }

  /**
   * Runs extraction, validation and the scope check. Returns `null` when the request may
   * pass, or why it may not.
   *
   * @throws whatever `extractKey` or `validateKey` throw, other than `ApiKeyStoreUnavailableError`
   */
  protected async authenticate(
    request: any,
    context: ExecutionContext,
  ): Promise<ApiKeyDenial | null> {
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
      return { status: 401, reason: result.reason };
    }
    const missingScopes = this.getRequiredScopes(context).filter(
      (scope) => !result.apiKey.scopes.includes(scope),
    );
    if (missingScopes.length > 0) return { status: 403, missingScopes };
    this.onAuthenticated(request, result.apiKey, context);
    return null;
  }

  /**
   * Called once a key passed: puts it on the request for `@CurrentApiKey()`.
   *
   * @throws never
   */
  protected onAuthenticated(request: any, apiKey: T, _context: ExecutionContext): void {
    if (request && typeof request === 'object') request[API_KEY_REQUEST_PROPERTY] = apiKey;
  }

  /**
   * Answers a refusal. HTTP and GraphQL get an exception; WebSocket and RPC get `false`,
   * which Nest turns into its own `WsException`/`RpcException` (an `HttpException` there would
   * surface as "Internal server error").
   *
   * @throws {ApiKeyUnauthorizedException | ApiKeyForbiddenException | ApiKeyUnavailableException} from the `deny*` hooks
   */
  protected deny(context: ExecutionContext, denial: ApiKeyDenial): boolean {
    switch (denial.status) {
      case 401:
        return this.denyUnauthorized(context, denial.reason);
      case 403:
        return this.denyForbidden(context, denial.missingScopes);
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
    if (!this.isHttpLike(context)) return false;
    const { keyword, realm, header } = this.apiKeyService.options;
    this.setResponseHeader(
      context,
      'WWW-Authenticate',
      `${keyword} realm="${realm}"${header ? `, header="${header}"` : ''}`,
    );
    throw new ApiKeyUnauthorizedException();
  }

  /**
   * Refuses a valid key that lacks scopes.
   *
   * @throws {ApiKeyForbiddenException} 403 in HTTP and GraphQL contexts; returns `false` elsewhere
   */
  protected denyForbidden(context: ExecutionContext, missingScopes: string[]): boolean {
    if (!this.isHttpLike(context)) return false;
    throw new ApiKeyForbiddenException(missingScopes);
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
    if (!this.isHttpLike(context)) return false;
    this.setResponseHeader(context, 'Retry-After', '5');
    throw new ApiKeyUnavailableException();
  }

  /**
   * The route's `@SkipApiKey()`, `@RequireScopes()` and `@AllowApiKeyOr()` metadata, read through
   * the reflector on its first request and kept per handler and class: decorators are applied
   * when classes are defined, and six metadata lookups per request were a measurable share of
   * the guard's cost.
   */
  private routeRules(context: ExecutionContext): RouteRules {
    const handler = context.getHandler();
    const owner = context.getClass();
    let byHandler = owner ? this.rulesByClass.get(owner) : undefined;
    let rules = handler ? byHandler?.get(handler) : undefined;
    if (rules === undefined) {
      const targets = [handler, owner];
      rules = {
        skip: this.reflector.getAllAndOverride<boolean>(API_KEY_SKIP_METADATA, targets) === true,
        scopes: this.reflector.getAllAndOverride<string[]>(API_KEY_SCOPES_METADATA, targets) ?? [],
        alternatives:
          this.reflector.getAllAndOverride<Type<CanActivate>[]>(
            API_KEY_ALTERNATIVES_METADATA,
            targets,
          ) ?? [],
      };
      // A context without a handler or class (a hand-made one) is read every time.
      if (handler && owner) {
        if (!byHandler) this.rulesByClass.set(owner, (byHandler = new WeakMap()));
        byHandler.set(handler, rules);
      }
    }
    return rules;
  }

  private isHttpLike(context: ExecutionContext): boolean {
    const type = context.getType<string>();
    return type === 'http' || type === 'graphql';
  }

  /** Sets a header on the Express response or Fastify reply, when the context has one. */
  private setResponseHeader(context: ExecutionContext, name: string, value: string): void {
    const response =
      context.getType<string>() === 'http'
        ? context.switchToHttp().getResponse()
        : (context.getArgByIndex(2)?.res ?? context.getArgByIndex(2)?.reply);
    if (typeof response?.header === 'function') response.header(name, value);
    else if (typeof response?.setHeader === 'function') response.setHeader(name, value);
  }

  private async anyAlternativePasses(
    guards: Type<CanActivate>[],
    context: ExecutionContext,
  ): Promise<boolean> {
    for (const guardType of guards) {
      try {
        const guard = await this.resolveAlternative(guardType);
        const result = guard.canActivate(context);
        if (await (isObservable(result) ? lastValueFrom(result) : result)) return true;
      } catch (error) {
        // Under OR, one guard's refusal is not the answer; the key's refusal is sent if all refuse.
        this.logger.debug(
          `Alternative guard ${guardType.name} refused: ${(error as Error)?.message}`,
        );
      }
    }
    return false;
  }

  private resolveAlternative(guardType: Type<CanActivate>): Promise<CanActivate> {
    let instance = this.alternativeInstances.get(guardType);
    if (!instance) {
      const moduleRef = this.moduleRef;
      if (!moduleRef)
        throw new Error('ModuleRef is not available to resolve @AllowApiKeyOr() guards.');
      const created = (async (): Promise<CanActivate> => {
        try {
          const found = moduleRef.get(guardType, { strict: false });
          if (found) return found;
        } catch {
          // Not a provider anywhere: instantiate it with its dependencies, once.
        }
        return moduleRef.create(guardType);
      })();
      created.catch(() => this.alternativeInstances.delete(guardType));
      this.alternativeInstances.set(guardType, created);
      instance = created;
    }
    return instance;
  }
}

const namedGuards = new Map<string, Type<ApiKeyGuard<any>>>();

/**
 * The guard class of a named registration (`ApiKeyModule.forRoot({ name })`). The same class
 * is returned for the same name, so it can be listed in `@UseGuards()` and provided once.
 *
 * @example
 * ```ts
 * export const PartnerApiKeyGuard = createApiKeyGuard('partner');
 *
 * @UseGuards(PartnerApiKeyGuard)
 * @Controller('partner')
 * export class PartnerController {}
 * ```
 * @publicApi
 */
export function createApiKeyGuard<T extends AbstractApiKey = AbstractApiKey>(
  name: string,
): Type<ApiKeyGuard<T>> {
  if (name === DEFAULT_API_KEY_NAME) return ApiKeyGuard as Type<ApiKeyGuard<T>>;
  let guard = namedGuards.get(name);
  if (!guard) {
    @Injectable()
    class NamedApiKeyGuard extends ApiKeyGuard<T> {
      constructor(
        @Inject(getApiKeyServiceToken(name)) apiKeyService: ApiKeyService<T>,
        reflector: Reflector,
      ) {
        super(apiKeyService, reflector);
      }
    }
    Object.defineProperty(NamedApiKeyGuard, 'name', { value: `ApiKeyGuard(${name})` });
    guard = NamedApiKeyGuard;
    namedGuards.set(name, guard);
  }
  return guard as Type<ApiKeyGuard<T>>;
}
