import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  authorizationArb,
  brandArb,
  FUZZ_SEED,
  fuzzRuns,
  keywordArb,
  requestArb,
  wellFormedKeyArb,
} from '../../test/fuzz/arbitraries.js';
import { readPresentedKey } from './context.js';

/** A registration's reading of keys: a custom header (lower-cased, as resolved) or a keyword. */
const configArb = fc.record({
  header: fc.oneof(
    fc.constant(null),
    fc.constantFrom('x-api-key', 'api-key', 'x-key'),
    fc.stringMatching(/^[!#$%&'*+.^_`|~0-9a-z-]{1,20}$/).filter((h) => h !== 'authorization'),
  ),
  keyword: keywordArb,
  brand: brandArb,
});

/** What the configured reading must extract, restated from the documented contract. */
function expectedKey(request: any, header: string | null, keyword: string): string | null {
  const headers = request?.headers;
  if (headers === null || typeof headers !== 'object') return null;
  if (header !== null) {
    const value = headers[header];
    return typeof value === 'string' && value.length > 0 ? value : null;
  }
  const authorization = headers.authorization;
  if (typeof authorization !== 'string') return null;
  const scheme = authorization.slice(0, keyword.length);
  if (authorization.charAt(keyword.length) !== ' ') return null;
  // ASCII letters only: String#toLowerCase would fold the Kelvin sign (U+212A) into 'k'.
  const asciiLower = (text: string) => text.replace(/[A-Z]/g, (c) => c.toLowerCase());
  return asciiLower(scheme) === asciiLower(keyword)
    ? authorization.slice(keyword.length + 1)
    : null;
}

const caseArb = configArb.chain((config) =>
  wellFormedKeyArb(config.brand).chain(({ key }) =>
    requestArb(config.header, config.keyword, key).map((request) => ({ config, request })),
  ),
);

describe('readPresentedKey under fuzzing', () => {
  it('never throws, and reads exactly the configured header or `<keyword> ` value', () => {
    fc.assert(
      fc.property(caseArb, ({ config: { header, keyword }, request }) => {
        expect(readPresentedKey(request, header, keyword)).toBe(
          expectedKey(request, header, keyword),
        );
      }),
      { seed: FUZZ_SEED, numRuns: fuzzRuns(2_000) },
    );
  });

  it('hands a well-formed key over verbatim under the keyword in any case', () => {
    const presentedArb = configArb.chain(({ keyword, brand }) =>
      fc.tuple(
        fc.constant(keyword),
        fc.mixedCase(fc.constant(keyword)),
        wellFormedKeyArb(brand).map(({ key }) => key),
      ),
    );
    fc.assert(
      fc.property(presentedArb, ([keyword, scheme, key]) => {
        const request = { headers: { authorization: `${scheme} ${key}` } };
        expect(readPresentedKey(request, null, keyword)).toBe(key);
        expect(readPresentedKey({ headers: { 'x-api-key': key } }, 'x-api-key', keyword)).toBe(key);
      }),
      { seed: FUZZ_SEED, numRuns: fuzzRuns(1_000) },
    );
  });

  it('reads nothing from Authorization when a custom header is configured', () => {
    const authorizationOnlyArb = configArb
      .filter(({ header }) => header !== null)
      .chain((config) =>
        wellFormedKeyArb(config.brand).chain(({ key }) =>
          authorizationArb(config.keyword, key).map((authorization) => ({
            header: config.header!,
            keyword: config.keyword,
            authorization,
          })),
        ),
      );
    fc.assert(
      fc.property(authorizationOnlyArb, ({ header, keyword, authorization }) => {
        expect(readPresentedKey({ headers: { authorization } }, header, keyword)).toBeNull();
      }),
      { seed: FUZZ_SEED, numRuns: fuzzRuns(500) },
    );
  });
});
