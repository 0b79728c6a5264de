import type { CanActivate, Type } from '@nestjs/common';
import { registrationOfGuard } from '../guards/factory.js';
import type { KeyGuardsOfRoute } from '../boot-checks/route-checks.js';
import { apiKeySchemeName } from './api-key-swagger.schemes.js';
import { isAnyOf } from '../policies/any-scopes.js';

/** A security requirement: every scheme named must be satisfied, with the scopes listed. */
export type SecurityRequirement = Record<string, string[]>;

/** Extension on an operation listing the scopes a key needs there. */
export const API_KEY_SCOPES_EXTENSION = 'x-api-key-scopes';
/** Extension on an operation naming `@AllowApiKeyOr()` guards that have no security scheme. */
export const API_KEY_ALTERNATIVES_EXTENSION = 'x-api-key-alternatives';

/** What the document says of one route protected by API key guards. */
export interface ApiKeyOperation {
  /** The registrations whose keys the route requires, for their security schemes. */
  readonly registrations: string[];
  /** Alternatives to one another, as an operation's `security` lists them. */
  readonly security: SecurityRequirement[];
  /** Responses the guards answer with, by status code. */
  readonly responses: Record<string, { description: string }>;
  /** `x-` extensions of the operation. */
  readonly extensions: Record<string, string[]>;
}

/** How `describeOperation` names the schemes of `@AllowApiKeyOr()` guards that take no key. */
export interface OperationSchemes {
  /**
   * The security scheme (as registered on your `DocumentBuilder`) of each non-key guard you list
   * in `@AllowApiKeyOr()`, e.g. `new Map([[UserTokenGuard, 'bearer']])`. A guard missing here is
   * named in the operation's `x-api-key-alternatives` instead.
   */
  readonly alternativeSchemes?: ReadonlyMap<Function, string>;
  /**
   * Whether security requirements may list scopes for `apiKey` schemes, as OpenAPI 3.1 allows
   * and 3.0 does not. Scopes are in `x-api-key-scopes` and the 403 response either way.
   */
  readonly scopesInRequirements: boolean;
}

/** Extension on an operation listing the scopes a key needs one of (`@RequireScopes.any()`). */
export const API_KEY_ANY_SCOPES_EXTENSION = 'x-api-key-scopes-any';

/** The 403 any keyed route can answer: keys may carry an IP allow-list. */
const KEY_IP_REFUSAL = "The client's address is not in the API key's allow-list.";
/** The 429 any keyed route that spends credits can answer: keys may carry a usage limit. */
const KEY_CREDITS_REFUSAL =
  'The API key has no usage credits left (the RateLimit header says r=0; Retry-After when a refill comes).';

const lowerFirst = (text: string) => text.charAt(0).toLowerCase() + text.slice(1);

const quoted = (names: string[]) => names.map((name) => `\`${name}\``).join(', ');

/**
 * The security, responses and extensions of a route, from the key guards that check it (as the
 * route scanner works them out). `undefined` for a route no key guard checks: it is open.
 */
export function describeOperation(
  route: KeyGuardsOfRoute,
  schemes: OperationSchemes,
): ApiKeyOperation | undefined {
  if (route.checking.length === 0) return undefined;
  const { scopes, alternatives } = route.decorators;
  const registrations = [...new Set(route.checking.map((entry) => entry.registration))];
  const anyOf = isAnyOf(scopes);
  // Requirements are ANDed within one object and ORed across objects: an any-of list is one
  // requirement per scope.
  const required = schemes.scopesInRequirements && !anyOf ? scopes : [];
  const keySide = (list: string[]) =>
    Object.fromEntries(registrations.map((name) => [apiKeySchemeName(name), list]));
  const security: SecurityRequirement[] =
    anyOf && schemes.scopesInRequirements
      ? scopes.map((scope) => keySide([scope]))
      : [keySide(required)];
  const unnamed: string[] = [];
  for (const guard of alternatives as Type<CanActivate>[]) {
    const registration = registrationOfGuard(guard);
    const scheme =
      registration !== undefined
        ? apiKeySchemeName(registration)
        : schemes.alternativeSchemes?.get(guard);
    if (registration !== undefined) registrations.push(registration);
    if (scheme === undefined) unnamed.push(guard.name);
    else security.push({ [scheme]: registration !== undefined ? required : [] });
  }
  const responses: Record<string, { description: string }> = {
    401: {
      description: 'The API key is missing, malformed, unknown, revoked, expired or disabled.',
    },
    403: { description: KEY_IP_REFUSAL },
    503: { description: 'API keys cannot be verified right now (the key store is unreachable).' },
  };
  if (!route.decorators.skipUsage) responses[429] = { description: KEY_CREDITS_REFUSAL };
  const extensions: Record<string, string[]> = {};
  if (scopes.length > 0) {
    const lacks = anyOf
      ? `The API key holds none of the scopes ${quoted(scopes)} (it needs one)`
      : `The API key lacks scope ${quoted(scopes)}`;
    responses[403] = { description: `${lacks}, or ${lowerFirst(KEY_IP_REFUSAL)}` };
    extensions[anyOf ? API_KEY_ANY_SCOPES_EXTENSION : API_KEY_SCOPES_EXTENSION] = scopes;
  }
  if (unnamed.length > 0) extensions[API_KEY_ALTERNATIVES_EXTENSION] = unnamed;
  return { registrations: [...new Set(registrations)], security, responses, extensions };
}
