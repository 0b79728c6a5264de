import { Logger } from '@nestjs/common';
import { In, type Repository } from 'typeorm';
import type { AbstractApiKey } from './api-key.entity.js';
import {
  ApiKeyStoreTimeoutError,
  DEFAULT_STORE_TIMEOUT,
  withinStoreTimeout,
} from './api-key.store-deadline.js';

/** Ids per UPDATE statement, well below every driver's bound-parameter limit. */
const CHUNK = 500;

/**
 * Records `lastUsedAt` without a write per request: a key is marked at most once per
 * `interval`, marks are written in batches by one timer, and `flush()` writes what is left
 * at shutdown. A failed write keeps its marks for the next round, and so does one the database
 * has not answered within `storeTimeout`: a stalled database holds up neither the next round
 * nor shutdown for longer than that.
 */
export class ApiKeyUsageRecorder<T extends AbstractApiKey> {
  private readonly logger = new Logger('ApiKeyUsage');
  private pending = new Map<string, number>();
  /** When each key was last marked, so a key read from a stale row cache is not marked again. */
  private readonly marked = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private closed = false;
  /** Latest instant recorded, by the injected clock. */
  private latest = -Infinity;

  private readonly storeTimeout: number;

  /** @param bounds.storeTimeout ms a write may take before its marks wait for the next round */
  constructor(
    private readonly repository: Repository<T>,
    readonly interval: number,
    bounds: { storeTimeout?: number } = {},
  ) {
    this.storeTimeout = bounds.storeTimeout ?? DEFAULT_STORE_TIMEOUT;
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
    if (this.flushing) await this.flushing;
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    this.flushing = this.write(batch).finally(() => (this.flushing = null));
    await this.flushing;
    if (this.pending.size > 0 && !this.closed) this.schedule();
  }

  /** Stops the timer and writes what is pending. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.flush();
    this.marked.clear();
  }

  private async write(batch: Map<string, number>): Promise<void> {
    // Group by instant so each statement is one `UPDATE ... WHERE id IN (...)`.
    const byInstant = new Map<number, string[]>();
    for (const [id, at] of batch) {
      const ids = byInstant.get(at) ?? [];
      ids.push(id);
      byInstant.set(at, ids);
    }
    // After one write timed out the rest would too, each after as long: they wait for the next round.
    let stalled = false;
    for (const [at, ids] of byInstant) {
      for (let i = 0; i < ids.length; i += CHUNK) {
        const chunk = ids.slice(i, i + CHUNK);
        if (stalled) {
          this.keepPending(chunk, at);
          continue;
        }
        try {
          await withinStoreTimeout(
            this.repository.update({ id: In(chunk) } as any, { lastUsedAt: new Date(at) } as any),
            this.storeTimeout,
          );
        } catch (error) {
          this.keepPending(chunk, at);
          stalled = error instanceof ApiKeyStoreTimeoutError;
          this.logger.warn(
            `Could not record last use of ${chunk.length} API key(s); will retry: ${(error as Error).message}`,
          );
        }
      }
    }
    // Marks older than an interval no longer suppress anything: drop them to bound memory.
    const horizon = this.latest - 2 * this.interval;
    for (const [id, at] of this.marked) if (at < horizon) this.marked.delete(id);
  }

  /** Puts marks whose write did not happen back for the next round, unless newer ones came meanwhile. */
  private keepPending(ids: string[], at: number): void {
    for (const id of ids) if (!this.pending.has(id)) this.pending.set(id, at);
  }
}
