import type { Logger } from '@nestjs/common';
import type { ApiKeyChangeChannel, ApiKeyChangeSink } from './cache.js';
import { changeTriggerNames, hasChangeTriggers } from './owner-triggers.js';
import type { OwnerTable } from './owners.js';
import { EVERY_KEY, changeChannel } from './triggers.js';
import { withinStoreTimeout } from '../store/deadline.js';

/** The part of a `pg` pool client the listener uses. */
interface ListeningClient {
  query(sql: string, parameters?: unknown[]): Promise<{ rows: unknown[] }>;
  on(
    event: 'notification',
    listener: (message: { channel: string; payload?: string }) => void,
  ): unknown;
  on(event: 'error' | 'end', listener: (error?: Error) => void): unknown;
  release(destroy?: boolean): void;
}

/** The part of a `pg` pool the listener takes its connection from. */
export interface ListeningPool {
  connect(): Promise<ListeningClient>;
  /** Set once `end()` was called: the pool then waits for every client to be given back. */
  readonly ending?: boolean;
}

/** How the listener is paced. */
export interface ListenerTiming {
  /** Milliseconds between liveness pings of the listening connection, each renewing the lease. */
  heartbeat: number;
  /** Milliseconds a ping may take before the connection counts as lost. */
  timeout: number;
  /** First and longest wait before reconnecting; it doubles from one to the other. */
  retry: { first: number; max: number };
}

/**
 * How often, in milliseconds, the listener checks whether its pool is ending: `pg` has no event
 * for it, and `DataSource.destroy()` waits until the connection it holds is given back.
 */
const POOL_ENDING_CHECK = 50;

/** Name the listening connection shows in `pg_stat_activity`. */
export const LISTENER_APPLICATION_NAME = 'nestjs-api-key listener';

/**
 * One `LISTEN` connection per registration, taken from the data source's pool and kept open, on
 * the channel the change trigger of the key table notifies. The sink is told it is up only once
 * `LISTEN` runs and the trigger is known to exist; it is told it is down as soon as the
 * connection errors, ends, or misses a ping, and the listener reconnects with backoff.
 *
 * Every `heartbeat` a ping (`SELECT 1`) goes down the listening connection; when it comes back,
 * the sink is told every change committed before it was sent has been reported (PostgreSQL
 * delivers a session's pending notifications before the answer to its next query), which
 * renews the cache's lease. A connection that goes silent without closing (a black hole)
 * renews nothing, so the cache stops serving `maxStaleness` after the last ping that came back,
 * long before the ping's timeout declares the connection lost.
 */
export class PostgresChangeListener implements ApiKeyChangeChannel {
  private client: ListeningClient | null = null;
  private closed = false;
  private retryDelay: number;
  private retryTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private endingTimer: NodeJS.Timeout | undefined;
  private reportedOutage = false;
  /** The connection a ping is on its way on: one at a time, so it leaves when it is sent. */
  private pinging: ListeningClient | null = null;

  constructor(
    private readonly pool: ListeningPool,
    private readonly table: string,
    private readonly sink: ApiKeyChangeSink,
    private readonly logger: Logger,
    private readonly timing: ListenerTiming,
    /** The tables `usableWhere` reads, whose owner triggers notify the same channel. */
    private readonly owners: OwnerTable[] = [],
  ) {
    this.retryDelay = timing.retry.first;
  }

  start(): void {
    // The data source may be destroyed before the app shuts down (and the service closes this):
    // the pool's end() then waits for the listening connection, so give it back.
    this.endingTimer = setInterval(() => {
      if (this.pool.ending) void this.close();
    }, POOL_ENDING_CHECK).unref();
    void this.connect();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.endingTimer);
    this.drop(this.client);
  }

  private async connect(): Promise<void> {
    let client: ListeningClient | null = null;
    try {
      if (this.pool.ending) return void this.close();
      client = await this.pool.connect();
      const own = client;
      this.client = own;
      if (this.closed) return this.drop(own);
      const channel = changeChannel(this.table);
      own.on('notification', (message) => {
        if (message.channel === channel) this.sink.changed(message.payload || EVERY_KEY);
      });
      own.on('error', (error) => this.lost(own, error));
      own.on('end', () => this.lost(own));
      await own.query(`SET application_name = '${LISTENER_APPLICATION_NAME}'`);
      await own.query(`LISTEN "${channel}"`);
      const run = async (sql: string, parameters: unknown[]) =>
        (await own.query(sql, parameters)).rows;
      // The trigger check is the first round trip after LISTEN: it starts the lease.
      const checked = performance.now();
      if (!(await hasChangeTriggers(run, 'postgres', this.table, this.owners)))
        throw new Error(
          `a change trigger of "${this.table}" is missing (${changeTriggerNames(this.table, this.owners)}). ` +
            'Fix: run createApiKeyNotifyMigration(), or let the module create it at boot',
        );
      if (this.client !== own || this.closed) return;
      this.retryDelay = this.timing.retry.first;
      if (this.reportedOutage)
        this.logger.log(`Listening for API key changes again on "${this.table}".`);
      this.reportedOutage = false;
      this.sink.up();
      this.sink.proven(checked);
      this.heartbeatTimer = setInterval(() => this.ping(own), this.timing.heartbeat).unref();
    } catch (error) {
      this.lost(client, error as Error);
    }
  }

  private ping(client: ListeningClient): void {
    // One late ping is enough to stop the lease; it is declared lost only after its timeout.
    if (this.pinging === client) return;
    this.pinging = client;
    const sent = performance.now();
    withinStoreTimeout(client.query('SELECT 1'), this.timing.timeout)
      .then(
        () => {
          if (client === this.client) this.sink.proven(sent);
        },
        (error: Error) => this.lost(client, error),
      )
      .finally(() => {
        if (this.pinging === client) this.pinging = null;
      });
  }

  /** The connection `client` failed: serve nothing cached, give it up, and reconnect. */
  private lost(client: ListeningClient | null, error?: Error): void {
    if (client !== this.client) return;
    this.sink.down();
    this.drop(client);
    // A pool that is ending is no outage: the data source is being destroyed.
    if (this.pool.ending) void this.close();
    if (this.closed) return;
    if (!this.reportedOutage) {
      this.logger.warn(
        `Lost the API key change listener of "${this.table}" (${error?.message ?? 'connection ended'}); ` +
          'keys are read on every request until it is back.',
      );
      this.reportedOutage = true;
    }
    this.retryTimer = setTimeout(() => void this.connect(), this.retryDelay).unref();
    this.retryDelay = Math.min(this.retryDelay * 2, this.timing.retry.max);
  }

  private drop(client: ListeningClient | null): void {
    clearInterval(this.heartbeatTimer);
    this.sink.down();
    if (client === null || client !== this.client) return;
    this.client = null;
    try {
      client.release(true);
    } catch {
      // Released already: the pool has let go of it.
    }
  }
}
