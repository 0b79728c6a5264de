import type { ExecutionContext } from '@nestjs/common';

/**
 * The request behind any execution context, without importing `@nestjs/graphql` or
 * `@nestjs/websockets`: HTTP (Express and Fastify), GraphQL (Apollo's `req`, Mercurius'
 * `reply.request`) and WebSocket (socket.io's handshake, or a `ws` client's upgrade request).
 * `undefined` for contexts with no request, such as microservices.
 */
export function resolveRequest(context: ExecutionContext): any {
  switch (context.getType<string>()) {
    case 'http':
      return context.switchToHttp().getRequest();
    case 'graphql': {
      const gqlContext = context.getArgByIndex(2);
      return gqlContext?.req ?? gqlContext?.request ?? gqlContext?.reply?.request;
    }
    case 'ws': {
      const client = context.switchToWs().getClient();
      return client?.handshake ?? client?.request ?? client?.upgradeReq ?? client;
    }
    default:
      return undefined;
  }
}

/**
 * The key a request presents: the raw value of `header` when one is configured, or else the part
 * after `<keyword> ` in `Authorization`, the scheme matched exactly but case-insensitively and the
 * key taken verbatim. `null` when there is none or the header is not of that form.
 *
 * @param header the configured header name, lower-cased as incoming header names are
 */
export function readPresentedKey(
  request: any,
  header: string | null,
  keyword: string,
): string | null {
  const headers = request?.headers;
  if (!headers || typeof headers !== 'object') return null;
  if (header !== null) {
    const value = headers[header];
    return typeof value === 'string' && value !== '' ? value : null;
  }
  const authorization = headers.authorization;
  if (typeof authorization !== 'string') return null;
  const space = authorization.indexOf(' ');
  if (space <= 0 || authorization.slice(0, space).toLowerCase() !== keyword.toLowerCase())
    return null;
  return authorization.slice(space + 1);
}

/** The `WWW-Authenticate` challenge of a 401: the scheme, the realm and any custom header. */
export function authenticateChallenge(
  keyword: string,
  realm: string,
  header: string | null,
): string {
  return `${keyword} realm="${realm}"${header ? `, header="${header}"` : ''}`;
}

/** Whether a refusal can be an HTTP exception: HTTP and GraphQL, not WebSocket or RPC. */
export function isHttpLike(context: ExecutionContext): boolean {
  const type = context.getType<string>();
  return type === 'http' || type === 'graphql';
}

/**
 * Sets a header on the Express response or Fastify reply behind an HTTP or GraphQL context; does
 * nothing when the context has none.
 */
export function setResponseHeader(context: ExecutionContext, name: string, value: string): void {
  const response =
    context.getType<string>() === 'http'
      ? context.switchToHttp().getResponse()
      : (context.getArgByIndex(2)?.res ?? context.getArgByIndex(2)?.reply);
  if (typeof response?.header === 'function') response.header(name, value);
  else if (typeof response?.setHeader === 'function') response.setHeader(name, value);
}
