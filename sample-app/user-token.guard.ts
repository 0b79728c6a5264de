import { createHash, timingSafeEqual } from 'node:crypto';
import {
  Inject,
  Injectable,
  UnauthorizedException,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { SAMPLE_CONFIG } from './sample-config.token.js';
import type { SampleConfig } from './config.js';

/**
 * Stand-in for a real user login (a JWT or session guard): accepts `Authorization: Bearer
 * <SAMPLE_USER_TOKEN>`. It shows how `@AllowApiKeyOr()` lets either a key or a user in.
 */
@Injectable()
export class UserTokenGuard implements CanActivate {
  private readonly expected: Buffer;

  constructor(@Inject(SAMPLE_CONFIG) config: SampleConfig) {
    this.expected = digest(config.userToken);
  }

  /** @throws {UnauthorizedException} when the request carries no valid user token */
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest();
    const authorization = request?.headers?.authorization;
    const match = typeof authorization === 'string' ? /^Bearer (.+)$/i.exec(authorization) : null;
    // Comparing digests keeps the comparison constant-time whatever the token's length.
    if (!match || !timingSafeEqual(digest(match[1]), this.expected)) {
      throw new UnauthorizedException('Invalid or missing user token.');
    }
    request.user = { name: 'demo-user' };
    return true;
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}
