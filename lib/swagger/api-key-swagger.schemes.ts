import type { SecuritySchemeObject } from '@nestjs/swagger';
import { DEFAULT_API_KEY_NAME } from '../api-key.constants.js';
import type { ResolvedApiKeyOptions } from '../api-key.options.js';

/**
 * Extension on a security scheme read in `Authorization: <keyword> <key>` form: the keyword,
 * which Swagger UI's request interceptor (`apiKeySwaggerUiOptions()`) puts before a bare key.
 */
export const API_KEY_KEYWORD_EXTENSION = 'x-api-key-keyword';

/**
 * Name of a registration's security scheme in `components.securitySchemes`: `api-key` for the
 * default registration, `api-key-<name>` for a named one (characters OpenAPI does not allow in
 * a component name replaced by `_`).
 *
 * @publicApi
 */
export function apiKeySchemeName(registration: string = DEFAULT_API_KEY_NAME): string {
  if (registration === DEFAULT_API_KEY_NAME) return 'api-key';
  return `api-key-${registration.replace(/[^A-Za-z0-9._-]/g, '_')}`;
}

/**
 * The security scheme a registration's guard reads keys by: an `apiKey` scheme in its custom
 * header, or in `Authorization` with the keyword named in the description and in the
 * `x-api-key-keyword` extension. Not an `http` scheme: Swagger UI sends only `basic` and `bearer`
 * ones, so a custom keyword there would never reach the server.
 */
export function apiKeySecurityScheme(
  options: Pick<ResolvedApiKeyOptions, 'name' | 'header' | 'keyword'>,
): SecuritySchemeObject & { [API_KEY_KEYWORD_EXTENSION]?: string } {
  const which =
    options.name === DEFAULT_API_KEY_NAME ? 'An API key' : `An API key of "${options.name}"`;
  if (options.header !== null) {
    return {
      type: 'apiKey',
      in: 'header',
      name: options.header,
      description: `${which}, sent raw in the \`${options.header}\` header.`,
    };
  }
  return {
    type: 'apiKey',
    in: 'header',
    name: 'Authorization',
    description: `${which}, sent as \`Authorization: ${options.keyword} <key>\`. In Swagger UI set up with \`apiKeySwaggerUiOptions()\`, paste the key alone: the keyword is added for you.`,
    [API_KEY_KEYWORD_EXTENSION]: options.keyword,
  };
}
