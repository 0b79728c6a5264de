/**
 * Any-of scope requirements (`@RequireScopes.any()`). They are stored under the same metadata key
 * as `@RequireScopes()`, as a list tagged `anyOf`, so that everything reading a route's required
 * scopes (the guard, the boot checks, the OpenAPI document) sees a requirement either way, and
 * one decorator on a method replaces the other on its controller.
 */

/** A list of scopes a key must hold one of, as `@RequireScopes.any()` stores it. */
export type AnyOfScopes = string[] & { readonly anyOf: true };

/** `scopes`, de-duplicated and tagged as an any-of requirement. */
export function anyOfScopes(scopes: readonly string[]): AnyOfScopes {
  const list = [...new Set(scopes)];
  Object.defineProperty(list, 'anyOf', { value: true });
  return list as AnyOfScopes;
}

/** Whether a required scope list is an any-of requirement. */
export function isAnyOf(scopes: readonly string[]): scopes is AnyOfScopes {
  return (scopes as Partial<AnyOfScopes>).anyOf === true;
}

/**
 * The required scopes a key's `held` scopes leave unmet: those it lacks of an all-of list, or,
 * for an any-of list the key holds none of, the whole list.
 */
export function missingScopes(required: readonly string[], held: readonly string[]): string[] {
  if (isAnyOf(required)) return required.some((scope) => held.includes(scope)) ? [] : required;
  return required.filter((scope) => !held.includes(scope));
}
