import { ForbiddenException, HttpException, HttpStatus } from '@nestjs/common';

/** The message of the 403 for a request from outside a key's IP allow-list. @publicApi */
export const API_KEY_IP_NOT_ALLOWED_MESSAGE = 'API key may not be used from this address.';

/** The message of the 429 for a key with no credits left. @publicApi */
export const API_KEY_USAGE_EXCEEDED_MESSAGE = 'API key has no usage credits left.';

/**
 * 403: the key is right, but the request comes from an address outside its `allowedIps`. The
 * body says no more (neither the address seen nor the list).
 *
 * @publicApi
 */
export class ApiKeyIpNotAllowedException extends ForbiddenException {
  readonly reason = 'ip_not_allowed';

  constructor() {
    super(API_KEY_IP_NOT_ALLOWED_MESSAGE);
  }
}

/**
 * 429: the key is right, but it has no usage credits left (`remaining` is 0). The response's
 * `RateLimit` header says `r=0`, and `Retry-After` when a refill is coming.
 *
 * @publicApi
 */
export class ApiKeyUsageExceededException extends HttpException {
  readonly reason = 'usage_exceeded';

  constructor() {
    super(
      {
        statusCode: HttpStatus.TOO_MANY_REQUESTS,
        message: API_KEY_USAGE_EXCEEDED_MESSAGE,
        error: 'Too Many Requests',
      },
      HttpStatus.TOO_MANY_REQUESTS,
    );
  }
}
