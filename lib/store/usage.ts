import { Logger } from '@nestjs/common';
import { In, type Repository } from 'typeorm';
import type { AbstractApiKey } from '../api-key.entity.js';
import { DEFAULT_STORE_TIMEOUT, withinStoreTimeout } from './deadline.js';

/** Ids per UPDATE statement, well below every driver's bound-parameter limit. */
const CHUNK = 500;
/** Pauses before the further attempts `close()` makes to write what is left, in ms. */
const SHUTDOWN_RETRY_DELAYS: readonly number[] = [250, 750, 1500];

/**
 * Records `lastUsedAt` without a write per request: a key is marked at most once per
 * `interval`, and one timer writes the marks of every key in one statement (per 500 keys).
 * All marks of a write get one instant, the earliest among them, so `lastUsedAt` never says a
 * key was used later than it was, and is at most one interval early. Marks taken more than an
 * interval apart (kept from a failed write) are written as separate groups. A failed write keeps
 * its marks for the next round, and so does one the database has not answered within
 * `storeTimeout`; `close()` writes what is left at shutdown, retrying for a few seconds before it
 * gives the marks up.
 */
export class ApiKeyUsageRecorder<T extends AbstractApiKey> {
  private readonly logger = new Logger('ApiKeyUsage');
  private pending = new Map<string, number>();
  /** When each key was last marked, so a key read from a stale row cache is not marked again. */
  private readonly marked = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<Error | null> | null = null;
  private closed = false;
  /** Latest instant recorded, by the injected clock. */
  private latest = -Infinity;

  private readonly storeTimeout: number;
  private readonly shutdownRetryDelays: readonly number[];

  /**
   * @param bounds.storeTimeout ms a write may take before its marks wait for the next round
   * @param bounds.shutdownRetryDelays pauses before each further attempt of `close()`, in ms
   */
  constructor(
    private readonly repository: Repository<T>,
    readonly interval: number,
    bounds: { storeTimeout?: number; shutdownRetryDelays?: readonly number[] } = {},
  ) {
    this.storeTimeout = bounds.storeTimeout ?? DEFAULT_STORE_TIMEOUT;
    this.shutdownRetryDelays = bounds.shutdownRetryDelays ?? SHUTDOWN_RETRY_DELAYS;
  }

  /** Number of keys waiting to be written. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** Notes that `apiKey` was used at `now`, unless it was recorded less than `interval` ago. */
  record(apiKey: T, now: Date): void {
    const at = now.getTime();
    const last = Math.max(
      apiKey.lastUsedAt?.getTime() ?? -Infinity,
      this.marked.get(apiKey.id) ?? -Infinity,
    );
    if (at - last < this.interval) return;
    this.marked.set(apiKey.id, at);
    this.pending.set(apiKey.id, at);
    this.latest = Math.max(this.latest, at);
    this.schedule();
  }

  private schedule(): void {
    this.timer ??= setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, this.interval).unref();
  }

  /** Writes every pending mark now. Resolves when written (or kept for retry after an error). */
  async flush(): Promise<void> {
    const failure = await this.attempt();
    if (failure && !this.closed) {
      this.logger.warn(
        `Could not record last use of ${this.pending.size} API key(s); will retry in ${this.interval} ms: ${failure.message}`,
      );
      this.schedule();
    }
  }

  /**
   * Stops the timer and writes what is pending, retrying a failed write a few times over a few
   * seconds; marks still unwritten after that are dropped, and the log says so.
   */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    let failure = await this.attempt();
    for (const delay of this.shutdownRetryDelays) {
      if (!failure) break;
      this.logger.warn(
        `Could not record last use of ${this.pending.size} API key(s) at shutdown; will retry in ${delay} ms: ${failure.message}`,
      );
      await new Promise((resolve) => setTimeout(resolve, delay));
      failure = await this.attempt();
    }
    if (failure) {
      this.logger.error(
        `Could not record last use of ${this.pending.size} API key(s) before shutdown; those lastUsedAt marks are lost: ${failure.message}`,
      );
      this.pending.clear();
    }
    this.marked.clear();
  }

  /** Writes what is pending, after any write in progress; the error that stopped it, if any. */
  private async attempt(): Promise<Error | null> {
    while (this.writing) await this.writing;
    if (this.pending.size === 0) return null;
    const batch = this.pending;
    this.pending = new Map();
    this.writing = this.write(batch).finally(() => (this.writing = null));
    return this.writing;
  }

  /** Writes a batch; on a failure puts back what was not written and returns the error. */
  private async write(batch: Map<string, number>): Promise<Error | null> {
    const groups = groupMarks(batch, this.interval);
    for (const [index, { at, ids }] of groups.entries()) {
      for (let i = 0; i < ids.length; i += CHUNK) {
        try {
          await withinStoreTimeout(
            this.repository.update(
              { id: In(ids.slice(i, i + CHUNK)) } as any,
              { lastUsedAt: new Date(at) } as any,
            ),
            this.storeTimeout,
          );
        } catch (error) {
          // Everything from this chunk on waits for the next round; newer marks win.
          const unwritten = [ids.slice(i), ...groups.slice(index + 1).map((g) => g.ids)].flat();
          for (const id of unwritten)
            if (!this.pending.has(id)) this.pending.set(id, batch.get(id)!);
          return error instanceof Error ? error : new Error(String(error));
        }
      }
    }
    // Marks older than an interval no longer suppress anything: drop them to bound memory.
    const horizon = this.latest - 2 * this.interval;
    for (const [id, at] of this.marked) if (at < horizon) this.marked.delete(id);
    return null;
  }
}

/**
 * Marks grouped so each group is one `UPDATE ... WHERE id IN (...)`: in order of time, a group
 * takes every mark less than `interval` after its first, and is written with that first instant.
 */
function groupMarks(batch: Map<string, number>, interval: number): { at: number; ids: string[] }[] {
  const groups: { at: number; ids: string[] }[] = [];
  for (const [id, at] of [...batch].sort((a, b) => a[1] - b[1])) {
    const last = groups.at(-1);
    if (last && at - last.at < interval) last.ids.push(id);
    else groups.push({ at, ids: [id] });
  }
  return groups;
}
