/**
 * Thrown at boot when `ApiKeyModule` is configured in a way that could not work safely.
 * The message names the option at fault and how to fix it. The application does not start:
 * a misconfigured key check never fails open.
 *
 * @publicApi
 */
export class ApiKeyConfigurationError extends Error {
  constructor(
    /** The option at fault, e.g. `header` or `hasher`. */
    readonly option: string,
    /** What is wrong. */
    readonly problem: string,
    /** How to fix it. */
    readonly fix: string,
    /**
     * Whether the application set `option`. When it did not (the fault is in a default, or in
     * what the application lacks), the message does not name it as if it had been passed.
     */
    given = true,
  ) {
    super(`ApiKeyModule${given ? ` option "${option}"` : ''}: ${problem} Fix: ${fix}`);
    this.name = 'ApiKeyConfigurationError';
  }
}

/**
 * Thrown by `ApiKeyService` when no key matches the given id or prefix.
 *
 * @publicApi
 */
export class ApiKeyNotFoundError extends Error {
  constructor(readonly idOrPrefix: string) {
    super(`No API key has the id or prefix "${idOrPrefix}".`);
    this.name = 'ApiKeyNotFoundError';
  }
}

/**
 * Thrown when a save would turn a revoked key back into a usable one. Revocation is final.
 *
 * @publicApi
 */
export class ApiKeyRevocationError extends Error {
  constructor(id: string | undefined) {
    super(
      `API key ${id ?? '(unknown id)'} is revoked, and revocation cannot be undone. Create a new key instead.`,
    );
    this.name = 'ApiKeyRevocationError';
  }
}

/**
 * Thrown by `ApiKeyService` when the key store cannot be read (database down, pool
 * exhausted, cold-path queue full). The guard turns it into a 503; it never lets a request in.
 *
 * @publicApi
 */
export class ApiKeyStoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ApiKeyStoreUnavailableError';
  }
}

/**
 * Thrown by `ApiKeyService.create()` and `update()` when their input is not acceptable (missing
 * name, bad scope, expiry in the past...). Nothing is written.
 *
 * @publicApi
 */
export class ApiKeyValidationError extends Error {
  constructor(
    message: string,
    /** The input field at fault (`name`, `scopes`, `expiresAt`...), when it is one field. */
    readonly field?: string,
    /** `cause`: for a row the database refused, the driver's error, for the server log only. */
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'ApiKeyValidationError';
  }
}
