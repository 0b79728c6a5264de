/**
 * How the `nestjs-api-key` CLI fails: two kinds of error, and the one line it prints for any.
 */

/** A mistake in the command line. Reported before anything is opened; exit code 2. */
export class CliUsageError extends Error {}

/** A failure of a well-formed command (unknown key, unreachable database...); exit code 1. */
export class CliFailure extends Error {}

/** The first line of an error's message: the CLI never prints stack traces. */
export function oneLine(error: unknown): string {
  const err = error as { message?: unknown; errors?: unknown[]; code?: unknown };
  let message = typeof err?.message === 'string' && err.message.trim() !== '' ? err.message : '';
  // Connection errors of some drivers are AggregateErrors (one per address tried) with no message.
  if (!message && Array.isArray(err?.errors) && err.errors.length > 0)
    return oneLine(err.errors[0]);
  if (!message) message = typeof err?.code === 'string' ? err.code : String(error);
  return message.split('\n')[0].trim();
}
