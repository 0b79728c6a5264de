/**
 * How the `nestjs-api-key` CLI shows keys: never the key itself after it is made, never its
 * hash, every text escaped for a terminal.
 */
import { columnHeader, extraColumnValues, type ColumnMetadata } from './columns.js';
import type { AbstractApiKey } from '../api-key.entity.js';

/**
 * Characters a terminal would act on rather than show: C0 and C1 controls and DEL (ESC and CSI
 * start escape sequences), and the bidirectional controls and line separators that reorder or
 * break what is shown (U+061C, U+200E-U+200F, U+2028-U+202E, U+2066-U+2069).
 */
// eslint-disable-next-line no-control-regex -- control characters are exactly what is escaped
const TERMINAL_CONTROLS = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

/** `\uXXXX` of a character, as JSON and JavaScript write it. */
const unicodeEscape = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * Text that is safe to print on one line of a terminal: every terminal control is escaped,
 * C0 and C1 controls as `\xNN`, the others as `\uNNNN`.
 */
export function printable(text: string): string {
  return text.replace(TERMINAL_CONTROLS, (c) =>
    c.charCodeAt(0) <= 0xff
      ? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`
      : unicodeEscape(c),
  );
}

/**
 * `value` as one line of JSON that is safe to print on a terminal: the controls JSON would leave
 * raw (DEL, C1, bidirectional controls) are `\u`-escaped too, so the line still parses to `value`.
 */
export function printableJson(value: unknown): string {
  return JSON.stringify(value).replace(TERMINAL_CONTROLS, unicodeEscape);
}

/** An instant to the second, or `none` for no instant. */
export function instant(date: Date | null | undefined, none: string): string {
  return date ? date.toISOString().replace(/\.\d{3}Z$/, 'Z') : none;
}

function status(apiKey: AbstractApiKey, now: Date): 'active' | 'revoked' | 'expired' | 'disabled' {
  if (apiKey.revoked) return 'revoked';
  if (apiKey.isExpired(now)) return 'expired';
  return apiKey.disabledAt != null ? 'disabled' : 'active';
}

/** A key's credits for a terminal: `unlimited`, or what is left and its refill (`3 (100/day)`). */
export function credits(apiKey: AbstractApiKey): string {
  if (apiKey.remaining == null) return 'unlimited';
  const refill =
    apiKey.refillAmount != null ? ` (${apiKey.refillAmount}/${apiKey.refillInterval})` : '';
  return `${apiKey.remaining}${refill}`;
}

/** A key's policies as JSON: each `null` when the key has no such policy. */
export function describePolicies(apiKey: AbstractApiKey) {
  return {
    disabledAt: apiKey.disabledAt?.toISOString() ?? null,
    allowedIps: apiKey.allowedIps ?? null,
    remaining: apiKey.remaining ?? null,
    refillAmount: apiKey.refillAmount ?? null,
    refillInterval: apiKey.refillInterval ?? null,
    lastRefillAt: apiKey.lastRefillAt?.toISOString() ?? null,
  };
}

/**
 * What listings show of a key: never the key itself nor its hash. The entity's own columns
 * (`columns`, its owner's id say) come first, so the common fields keep their meaning.
 */
export function describeKey(apiKey: AbstractApiKey, now: Date, columns: ColumnMetadata[]) {
  return {
    ...extraColumnValues(apiKey, columns),
    id: apiKey.id,
    prefix: apiKey.prefix,
    name: apiKey.name,
    scopes: apiKey.scopes,
    createdAt: apiKey.createdAt?.toISOString() ?? null,
    expiresAt: apiKey.expiresAt?.toISOString() ?? null,
    revokedAt: apiKey.revokedAt?.toISOString() ?? null,
    lastUsedAt: apiKey.lastUsedAt?.toISOString() ?? null,
    ...describePolicies(apiKey),
    status: status(apiKey, now),
  };
}

/** A key as `list` shows it: one row of cells, with `headers` above. */
export function keyRows(
  keys: AbstractApiKey[],
  now: Date,
  columns: ColumnMetadata[],
): { headers: string[]; rows: string[][] } {
  const headers = [
    'PREFIX',
    'NAME',
    'SCOPES',
    'CREATED',
    'EXPIRES',
    'REVOKED',
    'LAST USED',
    'DISABLED',
    'ALLOWED IPS',
    'CREDITS',
  ];
  const rows = keys.map((k) => [
    k.prefix,
    printable(k.name),
    k.scopes.join(',') || '-',
    instant(k.createdAt, '-'),
    k.expiresAt ? `${instant(k.expiresAt, '')}${k.isExpired(now) ? ' (expired)' : ''}` : 'never',
    instant(k.revokedAt, 'no'),
    instant(k.lastUsedAt, 'never'),
    instant(k.disabledAt, 'no'),
    k.allowedIps?.join(',') ?? 'any',
    credits(k),
    ...Object.values(extraColumnValues(k, columns)).map((value) => cell(value, '-')),
  ]);
  return { headers: [...headers, ...columns.map(columnHeader)], rows };
}

/** A key as `show` shows it: labelled fields, one a line. */
export function keyFields(
  apiKey: AbstractApiKey,
  now: Date,
  columns: ColumnMetadata[],
): [string, string][] {
  return [
    ['id', apiKey.id],
    ['prefix', apiKey.prefix],
    ['name', printable(apiKey.name)],
    ...Object.entries(extraColumnValues(apiKey, columns)).map(
      ([label, value]): [string, string] => [label, cell(value, '(none)')],
    ),
    ['scopes', apiKey.scopes.join(', ') || '(none)'],
    ['status', status(apiKey, now)],
    ['created', instant(apiKey.createdAt, '-')],
    ['expires', instant(apiKey.expiresAt, 'never')],
    ['revoked', instant(apiKey.revokedAt, 'no')],
    ['last used', instant(apiKey.lastUsedAt, 'never')],
    ['disabled', instant(apiKey.disabledAt, 'no')],
    ['allowed ips', apiKey.allowedIps?.join(', ') ?? 'any'],
    ['credits', credits(apiKey)],
    ['refilled', instant(apiKey.lastRefillAt, 'never')],
  ];
}

/** One column's JSON value as text for a terminal. */
function cell(value: unknown, none: string): string {
  if (value === null) return none;
  return printable(typeof value === 'string' ? value : JSON.stringify(value));
}

/** Rows as left-aligned columns two spaces apart. */
export function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows.map((row) =>
    row
      .map((cell, column) => cell.padEnd(widths[column]))
      .join('  ')
      .trimEnd(),
  );
}
