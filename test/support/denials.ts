import { expect } from 'vitest';
import { API_KEY_UNAUTHORIZED_MESSAGE, API_KEY_UNAVAILABLE_MESSAGE } from '../../lib/index.js';

/** The one body every 401 of the guard carries, whatever the reason. */
export const UNAUTHORIZED_BODY = {
  statusCode: 401,
  message: API_KEY_UNAUTHORIZED_MESSAGE,
  error: 'Unauthorized',
} as const;

/** The body of the 503 sent when the key store cannot be read. */
export const UNAVAILABLE_BODY = {
  statusCode: 503,
  message: API_KEY_UNAVAILABLE_MESSAGE,
  error: 'Service Unavailable',
} as const;

/** What `call()` and `rawRequest()` return, as far as these checks need. */
interface Answer {
  status: number;
  headers: { get(name: string): string | null };
  body: unknown;
}

/**
 * Asserts the guard's generic refusal: 401, the expected `WWW-Authenticate` challenge and
 * exactly the generic body. To show refusals for different reasons are byte-for-byte the
 * same, compare the `text` of `rawRequest()` answers as well.
 */
export function expectUnauthorized(answer: Answer, challenge = 'Api-Key realm="api"'): void {
  expect(answer.status).toBe(401);
  expect(answer.headers.get('www-authenticate')).toBe(challenge);
  expect(answer.body).toEqual(UNAUTHORIZED_BODY);
}

/** Asserts a 403 for a valid key lacking `scope`: no challenge, since the key itself was accepted. */
export function expectForbidden(answer: Answer, scope: string): void {
  expect(answer.status).toBe(403);
  expect(answer.headers.get('www-authenticate')).toBeNull();
  expect((answer.body as { message: string }).message).toBe(
    `API key lacks required scope: ${scope}.`,
  );
}

/** Asserts the 503 of an unreadable key store: the generic message, a retry hint, and no database detail. */
export function expectUnavailable(answer: Answer): void {
  expect(answer.status).toBe(503);
  expect(answer.body).toEqual(UNAVAILABLE_BODY);
  expect(answer.headers.get('retry-after')).toBe('5');
}
