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
 * key taken verbatim. `null` when there is none, the header is not of that form, or the header is
 * sent more than once (a custom header's repeats joined by Node are returned joined: no key has a
 * comma, so verification refuses them).
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
    if (typeof value !== 'string' || value === '') return null;
    // Repeats Node joins with ", " already make a value that is no key (refused as malformed);
    // the raw list finds those it drops, as it does for a few well-known header names.
    return value.includes(',') || !isRepeated(request, header) ? value : null;
  }
  const authorization = headers.authorization;
  if (typeof authorization !== 'string') return null;
  const space = authorization.indexOf(' ');
  if (space !== keyword.length || !sameAsciiWord(authorization, keyword)) return null;
  return isRepeated(request, 'authorization') ? null : authorization.slice(space + 1);
}

/**
 * Whether `text` starts with `word`, ignoring the case of ASCII letters only. `toLowerCase()` would
 * also fold the Kelvin sign (U+212A) to `k`, letting a scheme that is not the keyword through.
 */
function sameAsciiWord(text: string, word: string): boolean {
  for (let i = 0; i < word.length; i++) {
    const a = text.charCodeAt(i);
    const b = word.charCodeAt(i);
    if (a === b) continue;
    const lower = a | 0x20;
    if (lower !== (b | 0x20) || lower < 0x61 || lower > 0x7a) return false;
  }
  return true;
}

/**
 * Whether a header came more than once. Node keeps the first `Authorization` and joins repeats of
 * other headers with ", ", while a proxy in front may have checked the last one: with two
 * answers to "which key?", the request is refused rather than guessed at. Read from the raw
 * header list (Fastify keeps it on `request.raw`), and only once a key was found, so requests
 * without one pay nothing. A request without a raw list (a socket.io handshake) is taken as is.
 *
 * @param name the header name, lower-cased
 */
export function isRepeated(request: any, name: string): boolean {
  const raw: unknown = request.rawHeaders ?? request.raw?.rawHeaders;
  if (!Array.isArray(raw)) return false;
  let seen = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const field = raw[i];
    if (
      typeof field === 'string' &&
      field.length === name.length &&
      // As Node matches header names: ASCII case only, and no lower-cased copy per field.
      sameAsciiWord(field, name) &&
      ++seen > 1
    )
      return true;
  }
  return false;
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
