import fc from 'fast-check';
import {
  anyTextArb,
  authorizationArb,
  credentialArb,
  hugeTextArb,
  keyLikeTextArb,
} from './arbitraries.js';

/**
 * One header line as a hostile client writes it. Kept as text plus an encoding, rather than a
 * Buffer, so fast-check prints a failing request readably.
 */
export interface RawHeaderLine {
  name: string;
  value: string;
  /** `latin1` writes each character as one byte (only used for text within Latin-1). */
  encoding: 'latin1' | 'utf8';
}

/**
 * Headers the fuzzer must not send: they frame the request (a fuzzed `Content-Length` would
 * leave the server waiting for a body), or are already written by `rawRequest`.
 */
const FRAMING_HEADERS = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'expect',
  'upgrade',
  'te',
  'trailer',
]);

/**
 * `text` without an empty line inside it or a line break at its end. An empty line would end
 * the request's head early and turn the rest into a second, pipelined request; any other CR
 * or LF is kept, for the parser to judge.
 */
function withoutBlankLine(text: string): string {
  let out = text;
  while (/\r?\n\r?\n/.test(out)) out = out.replace(/\r?\n(?=\r?\n)/g, '');
  return out.replace(/[\r\n]+$/, '');
}

/** `text` without the control characters a strict HTTP parser refuses (all but HTAB). */
function withoutControls(text: string): string {
  return [...text].filter((c) => c === '\t' || (c >= ' ' && c !== '\u007f')).join('');
}

/** The bytes of a line's value as written on the wire. */
export function lineBytes(line: RawHeaderLine): Buffer {
  return Buffer.from(line.value, line.encoding);
}

/** Header names: the ones keys are read from in any case, other tokens, and invalid names. */
function headerNameArb(): fc.Arbitrary<string> {
  return (
    fc
      .oneof(
        {
          arbitrary: fc.constantFrom(
            'Authorization',
            'authorization',
            'AUTHORIZATION',
            'X-Api-Key',
            'x-api-key',
            'X-API-KEY',
          ),
          weight: 12,
        },
        { arbitrary: fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,30}$/), weight: 3 },
        { arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 20 }), weight: 1 },
      )
      // A break at the start would end the previous line twice: an empty line.
      .map((name) => withoutBlankLine(name).replace(/^[\r\n]+/, ''))
      .filter((name) => !FRAMING_HEADERS.has(name.trim().toLowerCase()))
  );
}

/**
 * Header values around `key` (which the fuzzer itself never sends whole): the keyword and near
 * misses, arbitrary text and bytes, values past Node's header size limit, obsolete line
 * folding, and stray CR or LF.
 */
function headerValueTextArb(keyword: string, key: string): fc.Arbitrary<string> {
  const text = fc.oneof(
    { arbitrary: authorizationArb(keyword, key), weight: 4 },
    { arbitrary: credentialArb(key), weight: 2 },
    { arbitrary: keyLikeTextArb(keyword, key), weight: 1 },
    { arbitrary: anyTextArb, weight: 1 },
  );
  const bytes = fc.uint8Array({ maxLength: 120 }).map((b) => Buffer.from(b).toString('latin1'));
  const folded = fc
    .tuple(text, fc.constantFrom('\r\n ', '\r\n\t', '\r\n  '), text)
    .map((parts) => parts.join(''));
  const strayBreak = fc
    .tuple(text, fc.constantFrom('\r', '\n', '\r\n', '\0'), fc.nat())
    .map(([t, brk, at]) => t.slice(0, at % (t.length + 1)) + brk + t.slice(at % (t.length + 1)));
  // Most values are cleared of control characters, so that most requests get past the parser.
  const parsable = text.map(withoutControls);
  return fc.oneof(
    { arbitrary: parsable, weight: 32 },
    { arbitrary: text, weight: 2 },
    { arbitrary: bytes, weight: 2 },
    { arbitrary: folded, weight: 1 },
    { arbitrary: strayBreak, weight: 1 },
    { arbitrary: hugeTextArb(text, 4_000, 30_000), weight: 1 },
  );
}

/**
 * The header lines of one hostile request: one to four lines, so repeated `Authorization` or
 * custom headers come up often. None holds `key` whole, so none may be let in.
 */
export function rawHeaderLinesArb(keyword: string, key: string): fc.Arbitrary<RawHeaderLine[]> {
  const line = fc
    .record({
      name: headerNameArb(),
      value: headerValueTextArb(keyword, key).map(withoutBlankLine),
      encoding: fc.constantFrom<RawHeaderLine['encoding']>('latin1', 'utf8'),
    })
    // Text beyond Latin-1 goes as UTF-8: as Latin-1 its code units would be cut to stray bytes.
    .map((l) => (/[^\0-\xff]/.test(l.value) ? { ...l, encoding: 'utf8' as const } : l));
  return (
    fc
      .array(line, { minLength: 1, maxLength: 4 })
      .filter((lines) => lines.every((l) => !lineBytes(l).includes(key, 0, 'latin1')))
      // A head well past the 16 KB limit is refused while the client still writes it, and the
      // server's close can then reset the connection before the 431 is read.
      .filter((lines) => lines.reduce((size, l) => size + lineBytes(l).length, 0) < 60_000)
  );
}
