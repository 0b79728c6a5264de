import {
  ForbiddenException,
  ServiceUnavailableException,
  UnauthorizedException,
} from '@nestjs/common';
import { API_KEY_UNAUTHORIZED_MESSAGE, API_KEY_UNAVAILABLE_MESSAGE } from './api-key.constants.js';

/**
 * 401: no usable key was presented. The message is always `API_KEY_UNAUTHORIZED_MESSAGE`,
 * whatever the reason, so the response does not reveal which keys exist.
 *
 * @publicApi
 */
export class ApiKeyUnauthorizedException extends UnauthorizedException {
  constructor() {
    super(API_KEY_UNAUTHORIZED_MESSAGE);
  }
}

/**
 * 403: the key is valid but lacks scopes the route requires.
 *
 * @publicApi
 */
export class ApiKeyForbiddenException extends ForbiddenException {
  constructor(readonly missingScopes: readonly string[]) {
    super(`API key lacks required scope: ${missingScopes.join(', ')}.`);
  }
}

/**
 * 503: the key store could not be read, so the request is refused rather than let in.
 *
 * @publicApi
 */
export class ApiKeyUnavailableException extends ServiceUnavailableException {
  constructor() {
    super(API_KEY_UNAVAILABLE_MESSAGE);
  }
}
