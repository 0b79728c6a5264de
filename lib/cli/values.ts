/**
 * The values the `nestjs-api-key` CLI's options take: expiry dates, durations and
 * `column=value` assignments, each read with a one-line message naming the accepted forms.
 */

import { EXPIRY_FORMS, readExpiry } from '../keys/expiry.js';
import { CliUsageError } from './errors.js';

const UNIT_MS: Record<string, number> = {
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};
/** The longest wait a timer can be set for. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * Reads `--expires`: see `readExpiry` for the forms.
 *
 * @throws {CliUsageError} naming the accepted forms when the text is none of them
 */
export function parseExpiry(text: string, now: Date): Date {
  const expiry = readExpiry(text, now);
  if (expiry !== null) return expiry;
  // A duration counts forward from now, so a minus sign can only mean the past.
  const past = /^-\d/.test(text) ? ' An expiry must be in the future.' : '';
  throw new CliUsageError(`--expires "${text}" is not a date: use ${EXPIRY_FORMS}.${past}`);
}

/**
 * Reads a duration in milliseconds: `0`, or a whole number of seconds, minutes, hours, days or
 * weeks such as `15s`, `30m`, `1h`, `7d`, `2w`.
 *
 * @param option the option's name, for the message
 * @param examples how the message shows the forms this option is best given in
 * @param max the longest duration accepted; default the longest wait a timer can be set for
 * @throws {CliUsageError} naming the accepted forms when the text is not a duration up to `max`
 */
export function parseDuration(
  option: string,
  text: string,
  examples: string,
  max = MAX_TIMER_MS,
): number {
  const duration = /^(?:0|(\d{1,7})([smhdw]))$/.exec(text);
  const ms = duration ? (duration[1] ? Number(duration[1]) * UNIT_MS[duration[2]] : 0) : NaN;
  if (!(ms <= max)) {
    const negative = text.startsWith('-') ? ' cannot be negative' : ' is not a duration';
    throw new CliUsageError(`--${option} "${text}"${negative}: use ${examples}.`);
  }
  return ms;
}

/**
 * Reads `--set column=value` assignments into column names and their text.
 *
 * @throws {CliUsageError} on an assignment without `=` or a column name, or a column set twice
 */
export function parseAssignments(texts: string[]): Record<string, string> {
  const assignments: Record<string, string> = {};
  for (const text of texts) {
    const equals = text.indexOf('=');
    const column = equals > 0 ? text.slice(0, equals).trim() : '';
    if (column === '')
      throw new CliUsageError(
        `--set "${text}" is not an assignment: write --set <column>=<value>, e.g. --set partnerId=42.`,
      );
    if (Object.hasOwn(assignments, column))
      throw new CliUsageError(`--set gives the column "${column}" twice.`);
    assignments[column] = text.slice(equals + 1);
  }
  return assignments;
}

/** A duration in milliseconds as people read it: `15 s`, `2 min`, `1.5 s`. */
export function readableDuration(ms: number): string {
  return ms >= 60_000 && ms % 60_000 === 0 ? `${ms / 60_000} min` : `${ms / 1000} s`;
}
