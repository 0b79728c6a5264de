import type { Logger } from '@nestjs/common';
import { QueryFailedError } from 'typeorm';
import { ApiKeyStoreUnavailableError } from './api-key.errors.js';
import { isMissingTableError, missingTableFix } from './api-key.schema.js';

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

/**
 * The error to throw when the key store failed at `action`: logs the driver's message and
 * wraps the failure as the `cause` of an `ApiKeyStoreUnavailableError`, which the guard answers
 * with a 503. One that is already an `ApiKeyStoreUnavailableError` passes through unlogged.
 */
export function storeUnavailable(
  logger: Logger,
  action: string,
  error: unknown,
): ApiKeyStoreUnavailableError {
  if (error instanceof ApiKeyStoreUnavailableError) return error;
  logger.error(
    `Could not ${action}: ${(error as Error)?.message ?? String(error)}${missingTableFix(error)}`,
  );
  return new ApiKeyStoreUnavailableError(`Could not ${action}: the key store is unavailable.`, {
    cause: error,
  });
}
