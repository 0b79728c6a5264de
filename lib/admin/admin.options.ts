import type { CanActivate, ModuleMetadata, Type } from '@nestjs/common';
import { DEFAULT_API_KEY_NAME } from '../api-key.constants.js';
import { ApiKeyConfigurationError } from '../api-key.errors.js';
import { API_KEY_REVOKED_EVENT } from '../api-key.events.js';
import { readDuration } from '../keys/expiry.js';
import { isScope } from '../keys/format.js';

/**
 * What happened to a key through the admin page or API.
 *
 * @publicApi
 */
export type ApiKeyAdminEventType = 'created' | 'updated' | 'revoked' | 'rotated';

/**
 * An audit event. It never carries the key or its hash.
 *
 * @publicApi
 */
export interface ApiKeyAdminEvent {
  type: ApiKeyAdminEventType;
  /** The registration whose key it is. */
  registration: string;
  /** The key's id, prefix and name; for `rotated`, those of the new key. */
  id: string;
  prefix: string;
  name: string;
  /** The key's owner (`ownerColumn`), or `null` without one. */
  owner: string | null;
  /** Who acted (the `actor` option), or `null` when the request says nobody. */
  actor: string | null;
  /** When it happened, by the registration's clock. */
  at: Date;
  /**
   * For `revoked`: `'admin'`, which tells it apart from the service's own revocations emitted
   * under the same name (`ApiKeyRevokedEvent`, whose `reason` is `'dormant'`).
   */
  reason?: 'admin';
  /** For `updated`: the fields changed. */
  changes?: string[];
  /** For `rotated`: the key it replaces, which works until `previous.expiresAt`. */
  previous?: { id: string; prefix: string; expiresAt: Date | null; revoked: boolean };
}

/**
 * Names the events are emitted under with `@nestjs/event-emitter`, e.g.
 * `@OnEvent(API_KEY_ADMIN_EVENTS.revoked)`; `api-key.*` catches them all with wildcards on.
 *
 * @publicApi
 */
export const API_KEY_ADMIN_EVENTS: Readonly<Record<ApiKeyAdminEventType, string>> = {
  created: 'api-key.created',
  updated: 'api-key.updated',
  revoked: API_KEY_REVOKED_EVENT,
  rotated: 'api-key.rotated',
};

/**
 * The owner of the request in owner-scoped mode (a customer, tenant or partner id), or `null`
 * or `undefined` when the request has none (it is then refused with 403).
 *
 * @publicApi
 */
export type ApiKeyOwnerResolver = (
  request: any,
) => string | number | null | undefined | Promise<string | number | null | undefined>;

/**
 * What an owner may do to its own keys in owner-scoped mode, so that self-service cannot grant
 * more than the app means to: which scopes, how many keys, how long they live. Each rule is off
 * when left unset. A refusal is a 403 (scopes, key count) or a 400 (expiry) naming the rule.
 *
 * @publicApi
 */
export interface ApiKeyOwnerPolicy {
  /**
   * The scopes an owner may give its keys, on create and on update: a list, or a function of the
   * owner returning one (say, from its plan). Default: any scope.
   */
  grantableScopes?:
    readonly string[] | ((owner: string) => readonly string[] | Promise<readonly string[]>);
  /**
   * The most keys an owner may hold that are neither revoked nor expired; a create beyond it is
   * refused. Exact within one process; see docs/admin.md for several. Default: no limit.
   */
  maxActiveKeys?: number;
  /**
   * The longest a key may live from its creation, in milliseconds or as a duration (`90d`, `2w`):
   * a later `expiresAt` is refused on create and on update, and a key created without one gets
   * the longest. Default: no limit.
   */
  maxLifetime?: number | string;
  /**
   * Whether a key may never expire (`expiresAt: null`). Default: `true` without `maxLifetime`,
   * which a key that never expires would exceed, and `false` with it.
   */
  allowNoExpiry?: boolean;
}

/** An owner policy once checked: the lifetime in milliseconds, the scopes as a function. */
export interface ResolvedOwnerPolicy {
  grantableScopes: ((owner: string) => readonly string[] | Promise<readonly string[]>) | null;
  maxActiveKeys: number | null;
  maxLifetime: number | null;
  allowNoExpiry: boolean;
}

/**
 * Options of `ApiKeyAdminModule.forRoot()`.
 *
 * @publicApi
 */
export interface ApiKeyAdminOptions {
  /** Where the page is served, e.g. `admin/keys`; the JSON API is under `<path>/api/keys`. */
  path: string;
  /**
   * The app's own guard for the page and the API (its admin session, JWT or Basic auth): a class
   * (built by Nest in this module, with `imports` for its dependencies) or an instance. Required:
   * the module never serves an open page.
   */
  guard: Type<CanActivate> | CanActivate;
  /** Modules the guard's class needs for its dependencies. */
  imports?: ModuleMetadata['imports'];
  /** The key registration to manage (`ApiKeyModule.forRoot({ name })`). Default: the default one. */
  registration?: string;
  /**
   * The entity property naming a key's owner, e.g. `partnerId`. Enables the owner filter and the
   * owner field of create in admin mode; required with `owner`.
   */
  ownerColumn?: string;
  /**
   * Owner-scoped mode: the request's owner. Every list, show, create, update, revoke and rotate is
   * then confined to that owner's keys; another owner's key answers 404.
   */
  owner?: ApiKeyOwnerResolver;
  /**
   * Who acts, for audit events. Default: `request.user`'s `id`, `username`, `name` or `email`,
   * whichever comes first, or `null`.
   */
  actor?: (request: any) => string | null | undefined;
  /** Called with every audit event (besides `@nestjs/event-emitter`, when the app has it). */
  onEvent?: (event: ApiKeyAdminEvent) => void | Promise<void>;
  /**
   * Origins besides the request's own host that may change keys (`https://admin.example.com`),
   * for an app whose proxy rewrites the `Host` header.
   */
  allowedOrigins?: string[];
  /** Owner-scoped mode's limits: grantable scopes, most active keys, expiry. Needs `owner`. */
  ownerPolicy?: ApiKeyOwnerPolicy;
}

/**
 * Thrown at boot when `ApiKeyAdminModule` is configured in a way that would not be safe.
 *
 * @publicApi
 */
export class ApiKeyAdminConfigurationError extends ApiKeyConfigurationError {
  constructor(option: string, problem: string, fix: string) {
    super(option, problem, fix);
    this.message = `ApiKeyAdminModule option "${option}": ${problem} Fix: ${fix}`;
    this.name = 'ApiKeyAdminConfigurationError';
  }
}

/** The options once checked, with defaults. */
export interface ResolvedApiKeyAdminOptions extends Omit<ApiKeyAdminOptions, 'ownerPolicy'> {
  path: string;
  registration: string;
  actor: (request: any) => string | null | undefined;
  allowedOrigins: string[];
  ownerPolicy: ResolvedOwnerPolicy;
}

/** Token of a module's resolved options. */
export const API_KEY_ADMIN_OPTIONS = 'API_KEY_ADMIN:OPTIONS';

const isFunction = (value: unknown): value is Function => typeof value === 'function';

/**
 * Checks `forRoot()`'s options, so a module without protection never boots.
 *
 * @throws {ApiKeyAdminConfigurationError} naming the option at fault and the fix
 */
export function resolveAdminOptions(options: ApiKeyAdminOptions): ResolvedApiKeyAdminOptions {
  const { path, guard, owner, ownerColumn, actor, onEvent, allowedOrigins = [] } = options ?? {};
  const isGuard =
    isFunction(guard) ||
    (typeof guard === 'object' && guard !== null && isFunction(guard.canActivate));
  if (!isGuard)
    throw new ApiKeyAdminConfigurationError(
      'guard',
      'no guard protects the key admin page, and it is never served open.',
      "pass your app's own guard (admin session, JWT or Basic auth), e.g. ApiKeyAdminModule.forRoot({ path: 'admin/keys', guard: AdminGuard }).",
    );
  if (typeof path !== 'string' || !/^[A-Za-z0-9/_:.-]+$/.test(path.replace(/^\/+|\/+$/g, '')))
    throw new ApiKeyAdminConfigurationError(
      'path',
      `expected a route path, got ${JSON.stringify(path)}.`,
      "give the path the page is served at, e.g. path: 'admin/keys'.",
    );
  if (owner !== undefined && !isFunction(owner))
    throw new ApiKeyAdminConfigurationError(
      'owner',
      'expected a function of the request.',
      'pass owner: (request) => request.user.tenantId, or leave it unset.',
    );
  if ((owner !== undefined || ownerColumn !== undefined) && typeof ownerColumn !== 'string')
    throw new ApiKeyAdminConfigurationError(
      'ownerColumn',
      'owner-scoped mode needs to know which property of the key names its owner.',
      "add ownerColumn: the entity's owner property, e.g. ownerColumn: 'partnerId'.",
    );
  for (const [name, value] of Object.entries({ actor, onEvent })) {
    if (value !== undefined && !isFunction(value))
      throw new ApiKeyAdminConfigurationError(
        name,
        'expected a function.',
        `pass a function as ${name}, or leave it unset.`,
      );
  }
  if (!Array.isArray(allowedOrigins) || !allowedOrigins.every((o) => URL.canParse(o)))
    throw new ApiKeyAdminConfigurationError(
      'allowedOrigins',
      'expected a list of origins.',
      "list full origins, e.g. allowedOrigins: ['https://admin.example.com'].",
    );
  return {
    ...options,
    ownerPolicy: resolveOwnerPolicy(options.ownerPolicy, owner !== undefined),
    path: path.replace(/^\/+|\/+$/g, ''),
    registration: options.registration ?? DEFAULT_API_KEY_NAME,
    actor: actor ?? defaultActor,
    allowedOrigins: allowedOrigins.map((origin) => new URL(origin).origin),
  };
}

/** `request.user`'s id, username, name or email: what auth guards usually put there. */
function defaultActor(request: any): string | null {
  const user = request?.user;
  if (typeof user === 'string') return user;
  for (const field of ['id', 'username', 'name', 'email']) {
    const value = user?.[field];
    if (typeof value === 'string' || typeof value === 'number') return String(value);
  }
  return null;
}

/** The longest `maxLifetime` taken: a century. */
const MAX_LIFETIME_MS = 100 * 365 * 86_400_000;

/**
 * Checks `ownerPolicy`.
 *
 * @param ownerScoped whether the module has `owner`, without which the policy would apply to nobody
 * @throws {ApiKeyAdminConfigurationError} naming the rule at fault and the fix
 */
function resolveOwnerPolicy(
  policy: ApiKeyOwnerPolicy | undefined,
  ownerScoped: boolean,
): ResolvedOwnerPolicy {
  const fail = (rule: string, problem: string, fix: string) =>
    new ApiKeyAdminConfigurationError(`ownerPolicy.${rule}`, problem, fix);
  if (policy === undefined)
    return { grantableScopes: null, maxActiveKeys: null, maxLifetime: null, allowNoExpiry: true };
  if (typeof policy !== 'object' || policy === null || !ownerScoped)
    throw new ApiKeyAdminConfigurationError(
      'ownerPolicy',
      ownerScoped
        ? 'expected an object of rules.'
        : 'it limits what owners do to their own keys, and this module has no owner.',
      ownerScoped
        ? "pass e.g. ownerPolicy: { grantableScopes: ['orders:read'], maxActiveKeys: 10 }."
        : 'add owner: (request) => <the owner id> for a self-service page, or remove ownerPolicy.',
    );
  const { grantableScopes, maxActiveKeys, maxLifetime, allowNoExpiry } = policy;
  const grantable = grantableScopesOf(grantableScopes);
  if (maxActiveKeys !== undefined && !(Number.isSafeInteger(maxActiveKeys) && maxActiveKeys > 0))
    throw fail(
      'maxActiveKeys',
      `expected a whole number of keys, 1 or more, got ${JSON.stringify(maxActiveKeys)}.`,
      'give the most active keys an owner may hold, e.g. maxActiveKeys: 10.',
    );
  const lifetime = lifetimeOf(maxLifetime);
  if (lifetime === undefined)
    throw fail(
      'maxLifetime',
      `expected milliseconds or a duration up to a century, got ${JSON.stringify(maxLifetime)}.`,
      "give the longest a key may live, e.g. maxLifetime: '90d'.",
    );
  if (allowNoExpiry !== undefined && typeof allowNoExpiry !== 'boolean')
    throw fail(
      'allowNoExpiry',
      'expected true or false.',
      'set allowNoExpiry: false, or leave it unset.',
    );
  if (allowNoExpiry === true && lifetime !== null)
    throw fail(
      'allowNoExpiry',
      'a key that never expires would outlive maxLifetime.',
      'leave allowNoExpiry unset (false with maxLifetime), or remove maxLifetime.',
    );
  return {
    grantableScopes: grantable,
    maxActiveKeys: maxActiveKeys ?? null,
    maxLifetime: lifetime,
    allowNoExpiry: allowNoExpiry ?? lifetime === null,
  };
}

/**
 * `grantableScopes` as a function of the owner, or `null` for any scope.
 *
 * @throws {ApiKeyAdminConfigurationError} unless it is a list of scopes or a function
 */
function grantableScopesOf(
  value: ApiKeyOwnerPolicy['grantableScopes'],
): ResolvedOwnerPolicy['grantableScopes'] {
  if (value === undefined) return null;
  if (isFunction(value)) return value;
  if (!Array.isArray(value) || !value.every(isScope))
    throw new ApiKeyAdminConfigurationError(
      'ownerPolicy.grantableScopes',
      `expected a list of scopes or a function of the owner, got ${JSON.stringify(value)}.`,
      "list the scopes owners may grant, e.g. grantableScopes: ['orders:read', 'orders:write'].",
    );
  const scopes = [...value];
  return () => scopes;
}

/** `maxLifetime` in milliseconds, `null` when unset, `undefined` when it is no duration. */
function lifetimeOf(value: unknown): number | null | undefined {
  if (value === undefined || value === null) return null;
  const ms = typeof value === 'string' ? (readDuration(value) ?? NaN) : value;
  return typeof ms === 'number' && Number.isSafeInteger(ms) && ms > 0 && ms <= MAX_LIFETIME_MS
    ? ms
    : undefined;
}
