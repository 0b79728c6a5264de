/**
 * Name of the registration made by `ApiKeyModule.forRoot()` when no `name` is given.
 *
 * @publicApi
 */
export const DEFAULT_API_KEY_NAME = 'default';

/**
 * Injection token of the resolved options of the default registration.
 * Use it with `Test.createTestingModule(...).overrideProvider(API_KEY_MODULE_OPTIONS)`
 * to change options in your own tests.
 *
 * @publicApi
 */
export const API_KEY_MODULE_OPTIONS = 'API_KEY:MODULE_OPTIONS';

/** Metadata key written by `@SkipApiKey()`. @publicApi */
export const API_KEY_SKIP_METADATA = 'api_key:skip';

/** Metadata key written by `@RequireScopes()`. @publicApi */
export const API_KEY_SCOPES_METADATA = 'api_key:scopes';

/** Metadata key written by `@AllowApiKeyOr()`: the alternative guards. @publicApi */
export const API_KEY_ALTERNATIVES_METADATA = 'api_key:alternatives';

/**
 * Property of the request on which the guard puts the verified key entity.
 * `@CurrentApiKey()` reads it back.
 *
 * @publicApi
 */
export const API_KEY_REQUEST_PROPERTY = 'apiKey';

/**
 * The one message every 401 carries, whatever the reason (missing, malformed, unknown,
 * revoked, expired), so that a response never tells a caller which keys exist.
 *
 * @publicApi
 */
export const API_KEY_UNAUTHORIZED_MESSAGE = 'Invalid or missing API key.';

/** Message of the 503 sent when the key store cannot be read. @publicApi */
export const API_KEY_UNAVAILABLE_MESSAGE = 'API key verification is temporarily unavailable.';

/**
 * Token of the resolved options of a named registration.
 *
 * @param name the `name` given to `ApiKeyModule.forRoot()`; the default registration when omitted
 * @publicApi
 */
export function getApiKeyOptionsToken(name: string = DEFAULT_API_KEY_NAME): string {
  return name === DEFAULT_API_KEY_NAME
    ? API_KEY_MODULE_OPTIONS
    : `${API_KEY_MODULE_OPTIONS}:${name}`;
}

/**
 * Token of the TypeORM repository of a registration's key entity.
 *
 * @publicApi
 */
export function getApiKeyRepositoryToken(name: string = DEFAULT_API_KEY_NAME): string {
  return `API_KEY:REPOSITORY:${name}`;
}
