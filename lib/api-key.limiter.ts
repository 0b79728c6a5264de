import { ApiKeyStoreUnavailableError } from './api-key.errors.js';

interface Waiter {
  group: string | undefined;
  start: () => void;
}

/**
 * Runs at most `maxConcurrent` tasks at once and queues at most `maxQueued` more; beyond that
 * a task is refused at once. It keeps slow hashing from taking every libuv thread (which file
 * and DNS work share) and from queueing without bound under a flood of unknown secrets.
 *
 * Tasks may name a group (the verifier uses the key's id): a group runs one task at a time and
 * has at most `maxQueuedPerGroup` waiting, so a flood aimed at one key takes one slot and a
 * few places in the queue, and takes turns with checks of other keys instead of going first.
 */
export class ConcurrencyLimiter {
  private active = 0;
  private readonly waiting: Waiter[] = [];
  private readonly runningGroups = new Set<string>();
  private readonly queuedByGroup = new Map<string, number>();

  constructor(
    readonly maxConcurrent: number,
    readonly maxQueued: number,
    readonly maxQueuedPerGroup: number = Number.POSITIVE_INFINITY,
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
   * Runs `task` when a slot is free and its group has nothing running.
   *
   * @throws {ApiKeyStoreUnavailableError} when the queue, or the group's share of it, is full
   */
  async run<R>(task: () => Promise<R>, group?: string): Promise<R> {
    if (this.active < this.maxConcurrent && !this.isRunning(group)) {
      this.start(group);
    } else {
      const queuedInGroup = group === undefined ? 0 : (this.queuedByGroup.get(group) ?? 0);
      if (this.waiting.length >= this.maxQueued || queuedInGroup >= this.maxQueuedPerGroup) {
        throw new ApiKeyStoreUnavailableError(
          'Too many API keys are waiting for verification; try again shortly.',
        );
      }
      if (group !== undefined) this.queuedByGroup.set(group, queuedInGroup + 1);
      // `dispatch()` takes the slot on the waiter's behalf before waking it, so none can be taken in between.
      await new Promise<void>((resolve) => this.waiting.push({ group, start: resolve }));
    }
    try {
      return await task();
    } finally {
      this.active--;
      if (group !== undefined) this.runningGroups.delete(group);
      // Other groups' waiters go first, so a flooded key takes turns with the rest instead of keeping its slot.
      this.dispatch(group);
      this.dispatch();
    }
  }

  private isRunning(group: string | undefined): boolean {
    return group !== undefined && this.runningGroups.has(group);
  }

  private start(group: string | undefined): void {
    this.active++;
    if (group !== undefined) this.runningGroups.add(group);
  }

  /** Starts waiting tasks, oldest first, skipping those whose group is busy or is `passOver`. */
  private dispatch(passOver?: string): void {
    for (let i = 0; i < this.waiting.length && this.active < this.maxConcurrent;) {
      const waiter = this.waiting[i];
      if (this.isRunning(waiter.group) || (passOver !== undefined && waiter.group === passOver)) {
        i++;
        continue;
      }
      this.waiting.splice(i, 1);
      if (waiter.group !== undefined) {
        const left = this.queuedByGroup.get(waiter.group)! - 1;
        if (left === 0) this.queuedByGroup.delete(waiter.group);
        else this.queuedByGroup.set(waiter.group, left);
      }
      this.start(waiter.group);
      waiter.start();
    }
  }
}
