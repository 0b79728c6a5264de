import { createHash, timingSafeEqual } from 'node:crypto';
import {
  Injectable,
  UnauthorizedException,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';

/** The admin's user name for HTTP Basic auth. */
export const SAMPLE_ADMIN_USER = 'admin';

/**
 * Stand-in for a real admin login: HTTP Basic with user `admin` and the password of
 * `SAMPLE_ADMIN_PASSWORD` (default `demo-admin-password`). Without valid credentials it answers
 * 401 with `WWW-Authenticate: Basic`, so a browser asks for them.
 */
@Injectable()
export class AdminBasicGuard implements CanActivate {
  private readonly expected: Buffer;

  constructor(password: string = process.env.SAMPLE_ADMIN_PASSWORD || 'demo-admin-password') {
    this.expected = digest(`${SAMPLE_ADMIN_USER}:${password}`);
  }

  /** @throws {UnauthorizedException} with a Basic challenge, without valid credentials */
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest();
    const match = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(String(request.headers?.authorization ?? ''));
    const given = match ? Buffer.from(match[1], 'base64').toString('utf8') : '';
    // Comparing digests keeps the comparison constant-time whatever the length.
    if (!timingSafeEqual(digest(given), this.expected)) {
      const response = context.switchToHttp().getResponse();
      (response.setHeader ?? response.header).call(
        response,
        'WWW-Authenticate',
        'Basic realm="API key admin", charset="UTF-8"',
      );
      throw new UnauthorizedException('Sign in as the admin.');
    }
    request.user = { name: SAMPLE_ADMIN_USER };
    return true;
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
