import { ApiKeyStoreUnavailableError } from '../api-key.errors.js';

/**
 * Why a task would be refused: `group` when its group's share of the queue (or, for a deferred
 * task, the deferred share) is full, so the refusal is the group's own doing; `load` when the
 * whole queue is full of other work.
 */
export type LimiterRefusal = 'group' | 'load';

/** Tasks of one group (or one ungrouped task) waiting their turn. */
interface Group {
  readonly name: string | undefined;
  readonly waiting: Array<{ deferred: boolean; start: () => void }>;
  running: boolean;
  /** Whether the group's latest task asked to go after every other group's. */
  deferred: boolean;
  /** When the group last got a slot (0: not since it became busy), for round-robin order. */
  lastTurn: number;
  /** Order of arrival, to break ties between groups that have not had a turn. */
  readonly arrival: number;
}

/**
 * Runs at most `maxConcurrent` tasks at once and queues at most `maxQueued` more; beyond that
 * a task is refused at once. It keeps slow hashing from taking every libuv thread (which file
 * and DNS work share) and from queueing without bound under a flood of unknown secrets.
 *
 * Tasks may name a group (the verifier uses the key's id). A group runs one task at a time and
 * has at most `maxQueuedPerGroup` waiting. Free slots go to groups in turn, not to tasks in
 * order of arrival: a group that has not had a turn yet goes before groups that have, and
 * otherwise the group whose last turn is oldest goes first, so a new key's check is served next
 * however many keys an attacker keeps busy. A task may also ask to be deferred (the verifier
 * defers keys that recently failed a check): deferred groups get a slot only when no other group
 * waits, and deferred tasks hold at most half of the queue, so the rest stays free for others.
 */
export class ConcurrencyLimiter {
  private active = 0;
  private waitingCount = 0;
  private deferredCount = 0;
  private turns = 0;
  private arrivals = 0;
  private readonly groups = new Map<string, Group>();
  /** Groups with tasks waiting, named or not. */
  private readonly ready = new Set<Group>();

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
    return this.waitingCount;
  }

  /** Whether `group` has a task running or waiting. */
  isBusy(group: string): boolean {
    return this.groups.has(group);
  }

  /** Why `run(task, group, deferred)` would be refused if called now, or `null` if it would not. */
  refusal(group?: string, deferred = false): LimiterRefusal | null {
    const state = group === undefined ? undefined : this.groups.get(group);
    if (this.active < this.maxConcurrent && !state?.running) return null;
    if ((state?.waiting.length ?? 0) >= this.maxQueuedPerGroup) return 'group';
    if (deferred && this.deferredCount >= Math.floor(this.maxQueued / 2)) return 'group';
    return this.waitingCount >= this.maxQueued ? 'load' : null;
  }

  /**
   * Runs `task` when a slot is free, its group has nothing running and it is the group's turn.
   *
   * @param deferred let every group not deferred go first
   * @throws {ApiKeyStoreUnavailableError} when the queue, or the group's share of it, is full
   */
  async run<R>(task: () => Promise<R>, group?: string, deferred = false): Promise<R> {
    const refusal = this.refusal(group, deferred);
    if (refusal !== null) {
      throw new ApiKeyStoreUnavailableError(
        'Too many API keys are waiting for verification; try again shortly.',
      );
    }
    const state = this.groupOf(group);
    state.deferred = deferred;
    if (this.active < this.maxConcurrent && !state.running) {
      this.start(state);
    } else {
      this.waitingCount++;
      if (deferred) this.deferredCount++;
      this.ready.add(state);
      // `dispatch()` takes the slot on the waiter's behalf before waking it, so none can be taken in between.
      await new Promise<void>((resolve) => state.waiting.push({ deferred, start: resolve }));
    }
    try {
      return await task();
    } finally {
      this.active--;
      state.running = false;
      if (state.waiting.length === 0 && state.name !== undefined) this.groups.delete(state.name);
      this.dispatch();
    }
  }

  private groupOf(name: string | undefined): Group {
    const existing = name === undefined ? undefined : this.groups.get(name);
    if (existing) return existing;
    const created: Group = {
      name,
      waiting: [],
      running: false,
      deferred: false,
      lastTurn: 0,
      arrival: ++this.arrivals,
    };
    if (name !== undefined) this.groups.set(name, created);
    return created;
  }

  private start(group: Group): void {
    this.active++;
    group.running = true;
    group.lastTurn = ++this.turns;
  }

  /** Starts waiting tasks while slots are free, one group's turn at a time. */
  private dispatch(): void {
    while (this.active < this.maxConcurrent) {
      const next = this.nextGroup();
      if (!next) return;
      const waiter = next.waiting.shift()!;
      if (next.waiting.length === 0) this.ready.delete(next);
      this.waitingCount--;
      if (waiter.deferred) this.deferredCount--;
      this.start(next);
      waiter.start();
    }
  }

  /** The idle group with waiting tasks whose turn it is: not deferred, then oldest turn, then first come. */
  private nextGroup(): Group | undefined {
    let best: Group | undefined;
    for (const group of this.ready) {
      if (!group.running && (!best || compareTurns(group, best) < 0)) best = group;
    }
    return best;
  }
}

/** Negative when `a` should get a slot before `b`. */
function compareTurns(a: Group, b: Group): number {
  return (
    Number(a.deferred) - Number(b.deferred) || a.lastTurn - b.lastTurn || a.arrival - b.arrival
  );
}
