import {
  ForbiddenException,
  Inject,
  Injectable,
  UnsupportedMediaTypeException,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { API_KEY_ADMIN_OPTIONS, type ResolvedApiKeyAdminOptions } from './admin.options.js';

/**
 * The header every state-changing request of the management API must carry. A cross-site form
 * cannot set it, and a cross-origin script that does needs a CORS preflight the app never grants.
 *
 * @publicApi
 */
export const API_KEY_ADMIN_REQUEST_HEADER = 'x-requested-with';

/** Its expected value. @publicApi */
export const API_KEY_ADMIN_REQUEST_VALUE = 'XMLHttpRequest';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Refuses a state-changing request without same-origin proof: the custom header, a
 * `Sec-Fetch-Site` (when the browser sends one) of `same-origin`, an `Origin` (when sent) that is
 * the request's own origin (scheme, host and port) or an `allowedOrigins` entry, and a JSON body
 * if any. Non-browser
 * clients send neither `Origin` nor `Sec-Fetch-Site`, and pass with the header alone.
 *
 * @publicApi
 */
@Injectable()
export class ApiKeyAdminSameOriginGuard implements CanActivate {
  constructor(
    @Inject(API_KEY_ADMIN_OPTIONS) protected readonly options: ResolvedApiKeyAdminOptions,
  ) {}

  /**
   * @throws {ForbiddenException} without same-origin proof
   * @throws {UnsupportedMediaTypeException} for a body that is not JSON
   */
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest();
    if (SAFE_METHODS.has(String(request.method).toUpperCase())) return true;
    const headers: Record<string, string | string[] | undefined> = request.headers ?? {};
    if (headers[API_KEY_ADMIN_REQUEST_HEADER] !== API_KEY_ADMIN_REQUEST_VALUE)
      throw this.refuse(`the ${API_KEY_ADMIN_REQUEST_HEADER} header is missing`);
    const site = headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin')
      throw this.refuse(`it came from a ${String(site)} page`);
    const origin = headers.origin;
    if (origin !== undefined && !this.isAllowedOrigin(origin, ownOrigin(request)))
      throw this.refuse('its Origin is not this site');
    const type = headers['content-type'];
    if (type !== undefined && !/^application\/json\s*(;|$)/i.test(String(type)))
      throw new UnsupportedMediaTypeException('The management API takes JSON bodies only.');
    return true;
  }

  /**
   * Whether `origin` is the request's own origin (scheme, host and port) or one of
   * `allowedOrigins`.
   *
   * @param own the request's origin, as `ownOrigin()` tells it, or `null` when it cannot be told
   */
  protected isAllowedOrigin(origin: unknown, own: string | null): boolean {
    if (typeof origin !== 'string' || !URL.canParse(origin)) return false;
    const { origin: normalized } = new URL(origin);
    if (this.options.allowedOrigins.includes(normalized)) return true;
    return own !== null && normalized === own;
  }

  /** The 403 of a request without same-origin proof. */
  protected refuse(reason: string): ForbiddenException {
    return new ForbiddenException(
      `Refused: ${reason}. Keys are changed from the admin page, or with the header ${API_KEY_ADMIN_REQUEST_HEADER}: ${API_KEY_ADMIN_REQUEST_VALUE}.`,
    );
  }
}

/**
 * The origin a request was made to: the scheme the framework reports (Express's and Fastify's
 * `request.protocol`, which honour their trust-proxy settings and so `X-Forwarded-Proto` only
 * from a trusted proxy; else whether the socket is TLS) with the `Host` header, normalized as
 * browsers write `Origin` (lower case, no default port). `null` without a usable `Host`.
 */
export function ownOrigin(request: {
  protocol?: unknown;
  headers?: Record<string, unknown>;
  socket?: { encrypted?: unknown };
}): string | null {
  const host = request.headers?.host;
  const scheme =
    request.protocol === 'https' || request.protocol === 'http'
      ? request.protocol
      : request.socket?.encrypted
        ? 'https'
        : 'http';
  if (typeof host !== 'string' || host === '' || /[/?#@\\\s]/.test(host)) return null;
  const url = `${scheme}://${host}`;
  return URL.canParse(url) ? new URL(url).origin : null;
}
