import fc from 'fast-check';

/**
 * Shared fast-check generators for the fuzz specs: key-shaped text, near misses of a real key,
 * and the header values and header lines a hostile client can send.
 */

/** The characters of a key's prefix and secret. */
export const KEY_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * The seed every fuzz spec runs with, so a run is repeatable; `FUZZ_SEED` explores others.
 * fast-check prints the seed and the shrunk counterexample's path when a property fails.
 */
export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 20_260_401);

/** Runs per property are multiplied by `FUZZ_SCALE` (default 1) for a longer hunt. */
export function fuzzRuns(runs: number): number {
  return Math.max(1, Math.round(runs * Number(process.env.FUZZ_SCALE ?? 1)));
}

/** Brands a registration may be configured with (`BRAND_PATTERN`), the common ones weighted in. */
export const brandArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('', 'sk_live_', 'sk_test_', 'pk-', '_'),
  fc.stringMatching(/^[A-Za-z0-9_-]{0,32}$/),
);

/** Auth schemes a registration may be configured with (RFC 9110 tokens). */
export const keywordArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('Api-Key', 'Bearer', 'Token', 'X', 'ApiKey.v2'),
  fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,20}$/),
);

const keyCharArb = fc.constantFrom(...KEY_ALPHABET);

/** A well-formed key `<brand><prefix>.<secret>` and its prefix, drawn by fast-check so it replays. */
export function wellFormedKeyArb(brand: string): fc.Arbitrary<{ key: string; prefix: string }> {
  return fc
    .tuple(
      fc.string({ unit: keyCharArb, minLength: 8, maxLength: 8 }),
      fc.string({ unit: keyCharArb, minLength: 32, maxLength: 32 }),
    )
    .map(([prefix, secret]) => ({ key: `${brand}${prefix}.${secret}`, prefix }));
}

/** One character of any kind: a key character, punctuation, whitespace, a control or non-ASCII. */
const anyCharArb: fc.Arbitrary<string> = fc.oneof(
  keyCharArb,
  fc.constantFrom('.', ' ', '\t', '_', '-', '\0', '\r', '\n', '\u007f', 'é', '\u200b', '０', '🔑'),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
);

/** How a near miss differs from the key it was made from. */
export type NearMissKind = 'substitute' | 'insert' | 'delete';

/**
 * `key` with exactly one character replaced, inserted or deleted; never `key` itself. A
 * substitution may keep the key's shape (another letter in the secret), the nearest miss there is.
 */
export function nearMissArb(key: string): fc.Arbitrary<{ kind: NearMissKind; value: string }> {
  const at = fc.nat({ max: key.length - 1 });
  // Key characters weighted up: a substitution that keeps the shape reaches the lookup and hash.
  const replacement = fc.oneof({ arbitrary: keyCharArb, weight: 2 }, anyCharArb);
  return fc.oneof(
    fc
      .tuple(at, replacement)
      .filter(([i, c]) => key.charAt(i) !== c)
      .map(([i, c]) => ({
        kind: 'substitute' as const,
        value: key.slice(0, i) + c + key.slice(i + 1),
      })),
    fc
      .tuple(fc.nat({ max: key.length }), anyCharArb)
      .map(([i, c]) => ({ kind: 'insert' as const, value: key.slice(0, i) + c + key.slice(i) })),
    at.map((i) => ({ kind: 'delete' as const, value: key.slice(0, i) + key.slice(i + 1) })),
  );
}

/** Text of every kind: full Unicode, every byte value as a character, printable graphemes. */
export const anyTextArb: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ unit: 'binary-ascii', maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
);

/**
 * Text assembled from the pieces a parser of `<keyword> <brand><prefix>.<secret>` could trip on:
 * the keyword in any case, spaces, tabs, dots, brands, near misses of `key`, and arbitrary text.
 */
export function keyLikeTextArb(keyword: string, key: string): fc.Arbitrary<string> {
  const piece = fc.oneof(
    fc.mixedCase(fc.constant(keyword)),
    fc.constantFrom(' ', '  ', '\t', '.', '..', ',', ':', '=', '"', 'Bearer', 'Basic', 'sk_live_'),
    // Case-mapping oddities: the Kelvin sign lower-cases to an ASCII k (the only non-ASCII
    // character that does), İ to i and a combining dot; ſ upper-cases to S.
    fc.constantFrom('\u212a', '\u0130', '\u017f'),
    brandArb,
    nearMissArb(key).map(({ value }) => value),
    wellFormedKeyArb('').map(({ key: other }) => other),
    anyTextArb,
  );
  return fc.array(piece, { maxLength: 8 }).map((pieces) => pieces.join(''));
}

/** `key` itself now and then, and otherwise a near miss of it. */
export function credentialArb(key: string): fc.Arbitrary<string> {
  return fc.oneof(
    { arbitrary: fc.constant(key), weight: 1 },
    { arbitrary: nearMissArb(key).map(({ value }) => value), weight: 3 },
  );
}

/**
 * An `Authorization` value around `<keyword> <key>`: the scheme in any case or slightly wrong,
 * any separator, and `key`, a near miss of it, or key-like text after it.
 */
export function authorizationArb(keyword: string, key: string): fc.Arbitrary<string> {
  const scheme = fc.oneof(
    { arbitrary: fc.mixedCase(fc.constant(keyword)), weight: 4 },
    { arbitrary: nearMissArb(keyword).map(({ value }) => value), weight: 1 },
    { arbitrary: fc.constantFrom('', 'Bearer', 'Basic'), weight: 1 },
  );
  const separator = fc.oneof(
    { arbitrary: fc.constant(' '), weight: 4 },
    { arbitrary: fc.constantFrom('', '  ', '\t', ' \t', '\u00a0', '.', ':', ': '), weight: 1 },
  );
  const credential = fc.oneof(credentialArb(key), keyLikeTextArb(keyword, key));
  return fc.tuple(scheme, separator, credential).map((parts) => parts.join(''));
}

/** `text` repeated to a length between `min` and `max`, to test size limits. */
export function hugeTextArb(text: fc.Arbitrary<string>, min: number, max: number) {
  return fc
    .tuple(
      text.filter((t) => t.length > 0),
      fc.integer({ min, max }),
    )
    .map(([t, length]) => t.repeat(Math.ceil(length / t.length)).slice(0, length));
}

/**
 * What a request's `headers[name]` can hold in a lenient runtime or a subclass's transport:
 * strings of every kind, arrays (repeated headers), numbers, `undefined`, and arbitrary values.
 */
export function headerValueArb(keyword: string, key: string): fc.Arbitrary<unknown> {
  const text = fc.oneof(
    { arbitrary: authorizationArb(keyword, key), weight: 4 },
    { arbitrary: credentialArb(key), weight: 2 },
    { arbitrary: keyLikeTextArb(keyword, key), weight: 1 },
    { arbitrary: anyTextArb, weight: 1 },
  );
  return fc.oneof(
    { arbitrary: text, weight: 8 },
    { arbitrary: fc.array(text, { maxLength: 4 }), weight: 1 },
    { arbitrary: hugeTextArb(text, 1_000, 200_000), weight: 1 },
    {
      arbitrary: fc.constantFrom(undefined, null, 0, -1, NaN, Infinity, 41, true, ''),
      weight: 1,
    },
    { arbitrary: fc.anything({ withNullPrototype: true, withBoxedValues: true }), weight: 1 },
  );
}

/**
 * Requests as any transport or subclass could hand them over: hostile values under the header
 * the registration reads (`header`, or else `authorization`) among others (`__proto__` and
 * `constructor` included), headers that are not an object, and requests that are not objects.
 */
export function requestArb(
  header: string | null,
  keyword: string,
  key: string,
): fc.Arbitrary<unknown> {
  const read = header ?? 'authorization';
  const value = headerValueArb(keyword, key);
  const names = fc.constantFrom(
    read,
    'authorization',
    'x-api-key',
    'Authorization',
    '__proto__',
    'constructor',
    'toString',
  );
  // fast-check gives some of these dictionaries a null prototype.
  const others = fc.dictionary(names, value, { maxKeys: 3 });
  const headers = fc.oneof(
    {
      arbitrary: fc.tuple(others, value).map(([rest, mine]) => ({ ...rest, [read]: mine })),
      weight: 12,
    },
    { arbitrary: others, weight: 2 },
    { arbitrary: fc.array(value, { maxLength: 3 }), weight: 1 },
    { arbitrary: fc.anything({ withNullPrototype: true, withBoxedValues: true }), weight: 1 },
  );
  return fc.oneof(
    { arbitrary: headers.map((h) => ({ headers: h })), weight: 16 },
    { arbitrary: fc.anything({ withNullPrototype: true, withBoxedValues: true }), weight: 1 },
  );
}
