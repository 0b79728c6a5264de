import { describe, expect, it } from 'vitest';
import { isRepeated, readPresentedKey } from './context.js';

/** A request as Express hands it over: parsed headers, and the raw list beside them. */
function expressRequest(rawHeaders: string[]) {
  const headers: Record<string, string> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    // What Node does: the first Authorization wins, other repeats are joined.
    if (name === 'authorization') headers[name] ??= rawHeaders[i + 1];
    else
      headers[name] =
        name in headers ? `${headers[name]}, ${rawHeaders[i + 1]}` : rawHeaders[i + 1];
  }
  return { headers, rawHeaders };
}

/** A Fastify request: the raw list is on the Node request behind it. */
function fastifyRequest(rawHeaders: string[]) {
  const { headers } = expressRequest(rawHeaders);
  return { headers, raw: { rawHeaders } };
}

describe('readPresentedKey', () => {
  it.each([
    ['Express', expressRequest],
    ['Fastify', fastifyRequest],
  ])('refuses a key header sent twice (%s)', (_platform, request) => {
    const once = request(['Authorization', 'Api-Key k1', 'Accept', 'a', 'Accept', 'b']);
    expect(readPresentedKey(once, null, 'Api-Key')).toBe('k1');
    const twice = request(['Authorization', 'Api-Key k1', 'authorization', 'Api-Key k2']);
    expect(readPresentedKey(twice, null, 'Api-Key')).toBeNull();
    expect(readPresentedKey(request(['X-Api-Key', 'k1']), 'x-api-key', 'Api-Key')).toBe('k1');
    // Joined by Node into a value that is no key, which verification refuses as malformed.
    const header = request(['X-Api-Key', 'k1', 'X-API-KEY', 'k1']);
    expect(readPresentedKey(header, 'x-api-key', 'Api-Key')).toBe('k1, k1');
    // A header whose repeats Node drops, as it drops those of Authorization.
    const dropped = { headers: { from: 'k1' }, rawHeaders: ['From', 'k1', 'From', 'k2'] };
    expect(readPresentedKey(dropped, 'from', 'Api-Key')).toBeNull();
  });

  it('matches the keyword ignoring the case of ASCII letters only', () => {
    const read = (authorization: string) =>
      readPresentedKey({ headers: { authorization } }, null, 'Api-Key');
    expect(read('api-KEY k1')).toBe('k1');
    // U+212A KELVIN SIGN lower-cases to "k" with String#toLowerCase.
    expect(read('Api-\u212Aey k1')).toBeNull();
    expect(read('Api-Kez k1')).toBeNull();
    expect(read('Api-Ke k1')).toBeNull();
    expect(read('Api-Key')).toBeNull();
  });

  it('takes a request without a raw header list (a socket.io handshake) as it is', () => {
    expect(readPresentedKey({ headers: { authorization: 'Api-Key k1' } }, null, 'Api-Key')).toBe(
      'k1',
    );
  });
});

describe('isRepeated', () => {
  it('counts a header name case-insensitively, and nothing else', () => {
    const request = {
      rawHeaders: ['Authorization', 'x', 'X-Authorization', 'y', 'AUTHORIZATIO', 'z'],
    };
    expect(isRepeated(request, 'authorization')).toBe(false);
    expect(isRepeated({ rawHeaders: ['a', '1', 'A', '2'] }, 'a')).toBe(true);
    expect(isRepeated({}, 'authorization')).toBe(false);
  });
});
