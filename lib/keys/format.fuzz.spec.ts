import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  anyTextArb,
  brandArb,
  FUZZ_SEED,
  fuzzRuns,
  hugeTextArb,
  KEY_ALPHABET,
  keyLikeTextArb,
  nearMissArb,
  wellFormedKeyArb,
} from '../../test/fuzz/arbitraries.js';
import { BRAND_PATTERN, generateKey, keyLength, parseKey } from './format.js';

/** CRC32 in base62 (digits in `KEY_ALPHABET` order, 6 of them), restated with BigInt. */
function restatedChecksum(body: string): string {
  let value = BigInt(crc32(body));
  let out = '';
  for (let i = 0; i < 6; i++, value /= 62n) out = KEY_ALPHABET[Number(value % 62n)] + out;
  return out;
}

/**
 * What `parseKey` must answer, written character by character rather than with the
 * implementation's regular expressions: the prefix when `presented` is exactly
 * `<brand><8 key characters>.<32 key characters>`, or
 * `<brand>v1_<8 key characters>_<32 key characters><its checksum>`, otherwise `null`.
 */
function expectedPrefix(presented: unknown, brand: string): string | null {
  if (typeof presented !== 'string' || !presented.startsWith(brand)) return null;
  const rest = presented.slice(brand.length).split('');
  if (rest.length === 50) {
    const body = rest.slice(0, 44);
    const shaped = body.every((c, i) =>
      i < 3 ? c === 'v1_'[i] : i === 11 ? c === '_' : KEY_ALPHABET.includes(c),
    );
    const sum = restatedChecksum(brand + body.join(''));
    return shaped && rest.slice(44).join('') === sum ? rest.slice(3, 11).join('') : null;
  }
  if (rest.length !== 41) return null;
  const shaped = rest.every((c, i) => (i === 8 ? c === '.' : KEY_ALPHABET.includes(c)));
  return shaped ? rest.slice(0, 8).join('') : null;
}

const params = (runs: number) => ({ seed: FUZZ_SEED, numRuns: fuzzRuns(runs) });

/** Anything at all a caller could hand to `parseKey`, text of every kind weighted in. */
const presentedArb = fc.oneof(
  { arbitrary: anyTextArb, weight: 3 },
  { arbitrary: brandArb.chain((brand) => keyLikeTextArb('Api-Key', `${brand}x`)), weight: 2 },
  { arbitrary: hugeTextArb(anyTextArb, 1_000, 100_000), weight: 1 },
  { arbitrary: fc.anything({ withNullPrototype: true, withBoxedValues: true }), weight: 1 },
);

describe('parseKey under fuzzing', () => {
  it('never throws, and answers null or a valid prefix, for any value and any brand string', () => {
    fc.assert(
      fc.property(presentedArb, fc.oneof(brandArb, anyTextArb), (presented, brand) => {
        const prefix = parseKey(presented, brand);
        expect(prefix === null || /^[A-Za-z0-9]{8}$/.test(prefix)).toBe(true);
        expect(prefix).toBe(expectedPrefix(presented, brand));
      }),
      params(2_000),
    );
  });

  it('gives back the prefix of every well-formed key, whatever its brand', () => {
    fc.assert(
      fc.property(
        brandArb.chain((brand) => fc.tuple(fc.constant(brand), wellFormedKeyArb(brand))),
        ([brand, { key, prefix }]) => {
          expect(parseKey(key, brand)).toBe(prefix);
        },
      ),
      params(1_000),
    );
  });

  it('gives back the prefix of every generated key, whatever its brand', () => {
    fc.assert(
      fc.property(brandArb, (brand) => {
        expect(BRAND_PATTERN.test(brand)).toBe(true);
        const { key, prefix } = generateKey(brand);
        expect(key).toHaveLength(keyLength(brand));
        expect(parseKey(key, brand)).toBe(prefix);
      }),
      params(1_000),
    );
  });

  it('gives back the prefix of every checksummed key, and refuses every near miss of one', () => {
    const nearMissArbOfChecksummed = brandArb.chain((brand) => {
      const { key, prefix } = generateKey(brand, 'checksummed');
      return nearMissArb(key).map((miss) => ({ brand, key, prefix, miss }));
    });
    fc.assert(
      fc.property(nearMissArbOfChecksummed, ({ brand, key, prefix, miss }) => {
        expect(parseKey(key, brand)).toBe(prefix);
        expect(parseKey(miss.value, brand)).toBe(expectedPrefix(miss.value, brand));
      }),
      params(2_000),
    );
  });

  it('refuses a key under any other brand', () => {
    const otherBrandArb = fc
      .tuple(brandArb, brandArb)
      .filter(([brand, other]) => brand !== other)
      .chain(([brand, other]) => wellFormedKeyArb(brand).map(({ key }) => ({ key, other })));
    fc.assert(
      fc.property(otherBrandArb, ({ key, other }) => {
        expect(parseKey(key, other)).toBeNull();
      }),
      params(1_000),
    );
  });

  it('refuses a key one character longer or shorter, and a changed one unless it kept the shape', () => {
    const nearMissOfKeyArb = brandArb.chain((brand) =>
      wellFormedKeyArb(brand).chain(({ key }) =>
        nearMissArb(key).map((miss) => ({ brand, key, miss })),
      ),
    );
    fc.assert(
      fc.property(nearMissOfKeyArb, ({ brand, miss }) => {
        const prefix = parseKey(miss.value, brand);
        if (miss.kind === 'substitute') expect(prefix).toBe(expectedPrefix(miss.value, brand));
        else expect(prefix).toBeNull();
      }),
      params(2_000),
    );
  });
});
