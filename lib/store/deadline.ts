/** Default `storeTimeout`: how long a key-store read or write may take before it counts as an outage. */
export const DEFAULT_STORE_TIMEOUT = 5_000;

/** The longest delay `setTimeout` honours; a longer one fires at once. */
export const MAX_STORE_TIMEOUT = 2 ** 31 - 1;

/**
 * The key store did not answer within `storeTimeout`: a stalled connection, a lock, a server
 * too busy to reply. It reaches callers as the `cause` of an `ApiKeyStoreUnavailableError`.
 * The operation itself may still complete later; a write that timed out may yet apply.
 */
export class ApiKeyStoreTimeoutError extends Error {
  constructor(readonly timeout: number) {
    super(`The key store did not answer within ${timeout} ms.`);
    this.name = 'ApiKeyStoreTimeoutError';
  }
}

/**
 * Settles as `operation` does, or rejects with an `ApiKeyStoreTimeoutError` once `timeout`
 * milliseconds have passed. One timer per call: for operations off the per-request path (the
 * lookup arms one per shared read instead). What `operation` does after the deadline is ignored.
 */
export function withinStoreTimeout<R>(operation: Promise<R>, timeout: number): Promise<R> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ApiKeyStoreTimeoutError(timeout)), timeout);
  });
  return Promise.race([operation, expired]).finally(() => clearTimeout(timer));
}
