/**
 * Expiry dates as people write them, in the CLI's `--expires` and the admin page's form: an
 * ISO-8601 date or date-time, or a duration from now.
 */

const DAY_MS = 86_400_000;
/** Milliseconds of each unit a duration may be written in: hours, days, weeks. */
export const DURATION_UNIT_MS: Readonly<Record<string, number>> = {
  h: 3_600_000,
  d: DAY_MS,
  w: 7 * DAY_MS,
};
const ISO_8601 =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})?)?$/;

/** The forms `readExpiry` accepts, for the messages that refuse another. */
export const EXPIRY_FORMS =
  'an ISO-8601 date such as 2030-01-31 or 2030-01-31T12:00:00Z, or a duration such as 30d, 12h or 2w';

/**
 * Reads a duration in hours, days or weeks, such as `12h`, `30d` or `2w`.
 *
 * @returns milliseconds, or `null` when the text is no such duration or one of zero
 */
export function readDuration(text: string): number | null {
  const duration = /^(\d{1,6})([hdw])$/.exec(text);
  const ms = duration ? Number(duration[1]) * DURATION_UNIT_MS[duration[2]] : 0;
  return ms > 0 ? ms : null;
}

/**
 * Reads an expiry: an ISO-8601 date or date-time (a date alone is midnight UTC; a time without
 * an offset is local time, as in JavaScript), or a duration from `now` such as `30d`, `12h`, `2w`.
 *
 * @returns the instant, or `null` when the text is none of those forms (or a date that does not
 *   exist, such as 2030-02-30)
 */
export function readExpiry(text: string, now: Date): Date | null {
  if (/^\d+[hdw]$/.test(text)) {
    const ms = readDuration(text);
    return ms === null ? null : checkedDate(new Date(now.getTime() + ms));
  }
  const iso = ISO_8601.exec(text);
  if (!iso) return null;
  const [, year, month, day, hour = '0', minute = '0', second = '0'] = iso;
  // JavaScript rolls 2030-02-30 over to March; a mistyped day must be refused instead.
  const daysInMonth = new Date(Date.UTC(Number(year), Number(month), 0)).getUTCDate();
  if (Number(month) < 1 || Number(month) > 12 || Number(day) < 1 || Number(day) > daysInMonth)
    return null;
  if (Number(hour) > 23 || Number(minute) > 59 || Number(second) > 59) return null;
  return checkedDate(new Date(text.replace(' ', 'T')));
}

function checkedDate(date: Date): Date | null {
  return Number.isNaN(date.getTime()) || date.getUTCFullYear() > 9999 ? null : date;
}
