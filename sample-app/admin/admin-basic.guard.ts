import { createHash, timingSafeEqual } from 'node:crypto';
import {
  Inject,
  Injectable,
  UnauthorizedException,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { ThrottlerException, ThrottlerStorage } from '@nestjs/throttler';

/** The admin's user name for HTTP Basic auth. */
export const SAMPLE_ADMIN_USER = 'admin';

/**
 * Requests one IP address may make to the admin pages, signed in or not: plenty for a person,
 * and a guesser is held off for `blockDuration` once over.
 */
export const ADMIN_LOGIN_LIMIT = { ttl: 60_000, limit: 120, blockDuration: 60_000 } as const;

/**
 * Stand-in for a real admin login: HTTP Basic with user `admin` and the password of
 * `SAMPLE_ADMIN_PASSWORD` (default `demo-admin-password`). Without valid credentials it answers
 * 401 with `WWW-Authenticate: Basic`, so a browser asks for them. Each IP address may make
 * `ADMIN_LOGIN_LIMIT` requests a minute, counted in the app's throttler storage (shared through
 * Redis with `REDIS_URL`); beyond, 429 with `Retry-After`, whatever the credentials, so that a
 * guesser learns nothing while held off.
 */
@Injectable()
export class AdminBasicGuard implements CanActivate {
  private readonly expected = digest(
    `${SAMPLE_ADMIN_USER}:${process.env.SAMPLE_ADMIN_PASSWORD || 'demo-admin-password'}`,
  );

  constructor(@Inject(ThrottlerStorage) private readonly attempts: ThrottlerStorage) {}

  /**
   * @throws {ThrottlerException} (429) when the request's IP address made too many requests
   * @throws {UnauthorizedException} with a Basic challenge, without valid credentials
   */
  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest();
    const response = context.switchToHttp().getResponse();
    const setHeader = (name: string, value: string) =>
      (response.setHeader ?? response.header).call(response, name, value);
    // Counted before the password is checked: a right guess while held off gets 429 too.
    const { ttl, limit, blockDuration } = ADMIN_LOGIN_LIMIT;
    const { isBlocked, timeToBlockExpire } = await this.attempts.increment(
      `admin-login:${String(request.ip)}`,
      ttl,
      limit,
      blockDuration,
      'admin-login',
    );
    if (isBlocked) {
      setHeader('Retry-After', String(Math.max(1, timeToBlockExpire)));
      throw new ThrottlerException('Too many requests from this address: try again later.');
    }
    const match = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(String(request.headers?.authorization ?? ''));
    const given = match ? Buffer.from(match[1], 'base64').toString('utf8') : '';
    // Comparing digests keeps the comparison constant-time whatever the length.
    if (!timingSafeEqual(digest(given), this.expected)) {
      setHeader('WWW-Authenticate', 'Basic realm="API key admin", charset="UTF-8"');
      throw new UnauthorizedException('Sign in as the admin.');
    }
    request.user = { name: SAMPLE_ADMIN_USER };
    return true;
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
