import { QueryFailedError } from 'typeorm';
import { ApiKeyStoreUnavailableError } from '../api-key.errors.js';
import { isMissingTableError, missingTableFix } from '../schema/check.js';

/**
 * Whether the database refused the row itself (a constraint or a bad value), as opposed to
 * failing to run the statement at all. Only the server's verdict counts: a driver error with
 * no SQL state (closed connection, socket reset) or one of the connection and resource classes
 * (08, 53, 57, 58; SQLite's busy and I/O codes) is an outage, and so is a missing table.
 */
export function isRowRejected(error: unknown): boolean {
  if (!(error instanceof QueryFailedError) || isMissingTableError(error)) return false;
  const driverError = (
    error as QueryFailedError & { driverError?: { sqlState?: unknown; code?: unknown } }
  ).driverError;
  const state = driverError?.sqlState ?? driverError?.code;
  if (typeof state !== 'string') return false;
  if (state.startsWith('SQLITE_')) return /^SQLITE_(CONSTRAINT|MISMATCH|TOOBIG|RANGE)/.test(state);
  return /^[0-9A-Z]{5}$/.test(state) && !/^(08|53|57|58)/.test(state);
}

/** The driver's own error of a failed query: its codes, and the column or constraint it names. */
type DriverError = {
  code?: unknown;
  sqlState?: unknown;
  errno?: unknown;
  column?: unknown;
  constraint?: unknown;
  detail?: unknown;
  message?: unknown;
};

/**
 * Whether a refused row broke a foreign key: an owner that does not exist. PostgreSQL's 23503,
 * MySQL and MariaDB's errno 1452 (1216 on old servers), SQLite's SQLITE_CONSTRAINT_FOREIGNKEY.
 */
export function isForeignKeyViolation(error: unknown): boolean {
  const driverError = (error as { driverError?: DriverError })?.driverError;
  return (
    driverError?.code === '23503' ||
    driverError?.errno === 1452 ||
    driverError?.errno === 1216 ||
    driverError?.code === 'SQLITE_CONSTRAINT_FOREIGNKEY'
  );
}

/**
 * Which of `columns` (database names) a refused row's error names, if the driver says (SQLite
 * names none for a foreign key). Only ever compared against known names: the driver's text itself
 * is never part of a message for a client.
 */
export function columnNamedBy(error: unknown, columns: string[]): string | undefined {
  const driverError = (error as { driverError?: DriverError })?.driverError ?? {};
  const said = [driverError.column, driverError.detail, driverError.message]
    .filter((text): text is string => typeof text === 'string')
    .join(' ');
  // SQLite writes `table.column`, PostgreSQL `"column"` or `Key (column)=`, MySQL `'column'`.
  const words = new Set(said.split(/[^A-Za-z0-9_$]+/));
  return columns.find((column) => driverError.column === column || words.has(column));
}

/** Where store failures are written: a Nest `Logger`, or a `ThrottledErrorLog` around one. */
export interface ErrorLog {
  error(message: string): void;
}

/** Distinct causes counted at once; further causes share one count, so memory stays bounded. */
const MAX_CAUSES = 100;
const OTHER_CAUSES = 'Could not reach the key store (further causes)';

/**
 * Logs each distinct error line once per `interval`, so an outage does not write one line per
 * refused request: the first occurrence of a line is logged at once, and while it keeps
 * occurring, one line per interval says how many more times it did. A line that stops occurring
 * is logged at once again the next time.
 */
export class ThrottledErrorLog implements ErrorLog {
  /** Lines logged within the current interval, to how many times they occurred since. */
  private readonly causes = new Map<string, { repeats: number }>();

  /** @param interval milliseconds between summary lines of one cause */
  constructor(
    private readonly logger: ErrorLog,
    readonly interval = 10_000,
  ) {}

  /** Logs `message` now if it was not logged within the interval, else counts it. */
  error(message: string): void {
    const cause =
      this.causes.size < MAX_CAUSES || this.causes.has(message) ? message : OTHER_CAUSES;
    const seen = this.causes.get(cause);
    if (seen) {
      seen.repeats++;
      return;
    }
    this.logger.error(message);
    this.causes.set(cause, { repeats: 0 });
    this.summariseLater(cause);
  }

  private summariseLater(cause: string): void {
    setTimeout(() => {
      const seen = this.causes.get(cause)!;
      if (seen.repeats === 0) {
        this.causes.delete(cause);
        return;
      }
      this.logger.error(
        `${cause} (${seen.repeats} more time${seen.repeats === 1 ? '' : 's'} in the last ${this.interval / 1000} s)`,
      );
      seen.repeats = 0;
      this.summariseLater(cause);
    }, this.interval).unref();
  }
}

/**
 * The error to throw when the key store failed at `action`: logs the driver's message and
 * wraps the failure as the `cause` of an `ApiKeyStoreUnavailableError`, which the guard answers
 * with a 503. One that is already an `ApiKeyStoreUnavailableError` passes through unlogged.
 */
export function storeUnavailable(
  log: ErrorLog,
  action: string,
  error: unknown,
): ApiKeyStoreUnavailableError {
  if (error instanceof ApiKeyStoreUnavailableError) return error;
  log.error(
    `Could not ${action}: ${(error as Error)?.message ?? String(error)}${missingTableFix(error)}`,
  );
  return new ApiKeyStoreUnavailableError(`Could not ${action}: the key store is unavailable.`, {
    cause: error,
  });
}
