import { ApiKeyStoreUnavailableError } from './api-key.errors.js';

/**
 * Runs at most `maxConcurrent` tasks at once and queues at most `maxQueued` more; beyond that
 * a task is refused at once. It keeps slow hashing from taking every libuv thread (which file
 * and DNS work share) and from queueing without bound under a flood of unknown secrets.
 */
export class ConcurrencyLimiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    readonly maxConcurrent: number,
    readonly maxQueued: number,
  ) {}

  /** Tasks running now. */
  get running(): number {
    return this.active;
  }

  /** Tasks waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  /**
   * @throws {ApiKeyStoreUnavailableError} when the queue is full
   */
  async run<R>(task: () => Promise<R>): Promise<R> {
    if (this.active >= this.maxConcurrent) {
      if (this.waiting.length >= this.maxQueued) {
        throw new ApiKeyStoreUnavailableError('Too many API keys are waiting for verification; try again shortly.');
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.active++;
    }
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      // The slot passes straight to the next task, so `active` only drops when nobody waits.
      if (next) next();
      else this.active--;
    }
  }
}
