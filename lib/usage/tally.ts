/**
 * The hot path of usage analytics: one registration's counts of the current hour, in memory.
 * Counting a request is one `Map` lookup and two array increments; nothing is written per request.
 */
import { OUTCOME_INDEX, USAGE_OUTCOMES, type ApiKeyUsageOutcome } from './outcomes.js';

/** Milliseconds in an hour, the unit counts are stored in. */
export const HOUR_MS = 3_600_000;

/** The hour (hours since the Unix epoch, UTC) an instant falls in. */
export function hourOf(at: number): number {
  return Math.floor(at / HOUR_MS);
}

/** One stored count: `requests` of `outcome` for a key (`''` for unknown keys) in one hour. */
export interface UsageRow {
  registration: string;
  keyId: string;
  hour: number;
  outcome: ApiKeyUsageOutcome;
  requests: number;
}

/** Counts taken out of a tally to be written: one hour's counts by key. */
export interface UsageBatch {
  registration: string;
  hour: number;
  /** Counts by key id (`''` for unknown keys), indexed as `USAGE_OUTCOMES`. */
  cells: Map<string, number[]>;
}

/** Settings of a tally. */
export interface UsageTallySettings {
  registration: string;
  /** Distinct keys counted between two writes, at most: the memory bound of the hot path. */
  maxPendingKeys: number;
  /** The registration's clock: which hour counts belong to. */
  clock: () => Date;
}

/**
 * The counts of one registration since the last write, by key and outcome, for the hour they
 * were opened in (the writer swaps them out at every hour boundary and every flush). Memory is
 * bounded by `maxPendingKeys` distinct keys: a request of a further key asks for an early write
 * and, until that write has taken the counts out, is not counted (`dropped` says how many).
 */
export class UsageTally {
  readonly registration: string;
  readonly maxPendingKeys: number;
  private readonly clock: () => Date;
  private cells = new Map<string, number[]>();
  /** Prefixes of keys counted lately, to their ids (at most `maxPendingKeys`). */
  private readonly known = new Map<string, string>();
  private hour: number;
  /** Requests not counted since the last `take()` because the tally was full. */
  private droppedSinceTake = 0;
  /** Every request counted by this process, by outcome: what `/metrics` reports. */
  readonly totals: number[] = USAGE_OUTCOMES.map(() => 0);
  /** Called once when the tally fills up, so the writer writes early. */
  onFull: () => void = () => {};

  constructor(settings: UsageTallySettings) {
    this.registration = settings.registration;
    this.maxPendingKeys = settings.maxPendingKeys;
    this.clock = settings.clock;
    this.hour = this.hourNow();
  }

  /**
   * The id of the key with `prefix`, if this process counted a request of it lately: how a
   * checksummed key refused for its checksum (without a read) is counted against its key.
   */
  keyIdOf(prefix: string): string | undefined {
    return this.known.get(prefix);
  }

  /** Remembers a key's prefix, forgetting every one when `maxPendingKeys` are remembered. */
  private remember(prefix: string, keyId: string): void {
    if (this.known.size >= this.maxPendingKeys) this.known.clear();
    this.known.set(prefix, keyId);
  }

  /** Distinct keys counted since the last `take()`. */
  get pendingKeys(): number {
    return this.cells.size;
  }

  /**
   * Counts one request of `keyId` (`''` when no key is known) with `outcome`. The hot path: a
   * `Map` lookup and two increments, an array allocated once per key and hour. With `prefix`,
   * the key's prefix is remembered, for `keyIdOf`.
   */
  count(keyId: string, outcome: ApiKeyUsageOutcome, prefix?: string): void {
    if (prefix !== undefined && !this.known.has(prefix)) this.remember(prefix, keyId);
    const index = OUTCOME_INDEX[outcome];
    this.totals[index]++;
    let counts = this.cells.get(keyId);
    if (counts === undefined) {
      if (this.cells.size >= this.maxPendingKeys) {
        if (this.droppedSinceTake++ === 0) this.onFull();
        return;
      }
      counts = [0, 0, 0, 0, 0, 0];
      this.cells.set(keyId, counts);
    }
    counts[index]++;
  }

  /**
   * Moves one request of `keyId` counted as `from` to `to`: a request the guard let in (`ok`)
   * that a later guard refused (`rate_limited`), so each request has one outcome. When `from`
   * was written meanwhile, `to` is counted alone.
   */
  recount(keyId: string, from: ApiKeyUsageOutcome, to: ApiKeyUsageOutcome): void {
    const counts = this.cells.get(keyId);
    const index = OUTCOME_INDEX[from];
    if (counts !== undefined && counts[index] > 0) {
      counts[index]--;
      this.totals[index]--;
    }
    this.count(keyId, to);
  }

  /**
   * Takes the counts out for writing and opens the next ones, in the hour the clock says now.
   * `null` when nothing was counted (the hour still moves on).
   */
  take(): { batch: UsageBatch | null; dropped: number } {
    const dropped = this.droppedSinceTake;
    this.droppedSinceTake = 0;
    const batch =
      this.cells.size === 0
        ? null
        : { registration: this.registration, hour: this.hour, cells: this.cells };
    if (batch) this.cells = new Map();
    this.hour = this.hourNow();
    return { batch, dropped };
  }

  /** The hour it is, by this registration's clock. */
  hourNow(): number {
    return hourOf(this.clock().getTime());
  }

  /** Milliseconds from now, by this registration's clock, to the next hour boundary. */
  untilNextHour(): number {
    return HOUR_MS - (this.clock().getTime() % HOUR_MS);
  }
}

/** The rows of a batch: one per key and outcome counted. */
export function batchRows(batch: UsageBatch): UsageRow[] {
  const rows: UsageRow[] = [];
  for (const [keyId, counts] of batch.cells) {
    for (let i = 0; i < counts.length; i++) {
      if (counts[i] > 0)
        rows.push({
          registration: batch.registration,
          keyId,
          hour: batch.hour,
          outcome: USAGE_OUTCOMES[i],
          requests: counts[i],
        });
    }
  }
  return rows;
}
