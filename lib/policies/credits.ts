import type { QueryRunner, Repository } from 'typeorm';
import type { AbstractApiKey } from '../api-key.entity.js';
import { triggerDialect } from '../schema/sql.js';
import type { ApiKeyRefillInterval } from './refill-interval.js';

/** The start, in UTC, of the refill period that `now` falls in. */
export function refillPeriodStart(interval: ApiKeyRefillInterval, now: Date): Date {
  return interval === 'day'
    ? new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()))
    : new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
}

/**
 * Whether a key is owed a refill at `now`: it has one, and was last refilled (or, never refilled,
 * created) before the current period began. Read from a possibly older copy of the row, this
 * errs only towards "owed" (`lastRefillAt` only moves forward), and the refill itself is
 * conditional on the stored row, so an unneeded attempt changes nothing.
 */
export function isRefillDue(apiKey: AbstractApiKey, now: Date): boolean {
  if (apiKey.refillAmount == null || apiKey.refillInterval == null) return false;
  const last = apiKey.lastRefillAt ?? apiKey.createdAt;
  return last.getTime() < refillPeriodStart(apiKey.refillInterval, now).getTime();
}

/**
 * Whether a usage-limited key has a credit it could spend at `now` (some left, or a refill due),
 * read from the row as loaded: what `verify()` answers when it is not asked to spend.
 */
export function hasCredit(apiKey: AbstractApiKey, now: Date): boolean {
  return apiKey.remaining == null || apiKey.remaining > 0 || isRefillDue(apiKey, now);
}

/**
 * Spends usage-limited keys' credits, one conditional UPDATE per accepted request, so that no
 * engine can let two requests spend one credit:
 *
 * - spending is `UPDATE … SET remaining = remaining - 1 WHERE id = ? AND remaining > 0`: the row
 *   lock makes concurrent spends queue, each seeing the count the one before left, and the
 *   `remaining > 0` condition refuses the spend once none is left. PostgreSQL and SQLite give the
 *   count left by `RETURNING`; MariaDB/MySQL by `LAST_INSERT_ID(expr)`, read back on the same
 *   connection;
 * - a refill, when due, is `UPDATE … SET remaining = refill_amount, last_refill_at = now WHERE
 *   id = ? AND COALESCE(last_refill_at, created_at) < period start`, run before the spend: of
 *   instances racing at a boundary, the first to take the row lock refills, and the others find
 *   the condition false on the row it left, so a period is refilled exactly once.
 *
 * Keys without a limit never reach this class: they cost no write.
 */
export class ApiKeyCredits<T extends AbstractApiKey> {
  constructor(private readonly repository: Repository<T>) {}

  /**
   * Refills the key if due, then spends one credit.
   *
   * @returns the credits left after spending, or `null` when there was none to spend
   * @throws whatever the driver throws when the database cannot be written
   */
  async spend(apiKey: T, now: Date): Promise<number | null> {
    if (isRefillDue(apiKey, now)) await this.refill(apiKey, now);
    const dialect = triggerDialect(this.repository.manager);
    const { table, remaining, id } = this.names();
    const parameters = [apiKey.id];
    if (dialect === 'mysql')
      return this.onOneConnection(async (queryRunner) => {
        // LAST_INSERT_ID(expr) keeps the count for this connection's next LAST_INSERT_ID(): no
        // other statement runs on it between the two, and no other connection sees it.
        const result = await queryRunner.query(
          `UPDATE ${table} SET ${remaining} = LAST_INSERT_ID(${remaining} - 1) WHERE ${id} = ? AND ${remaining} > 0`,
          parameters,
          true,
        );
        if (result.affected !== 1) return null;
        const [row] = await queryRunner.query('SELECT LAST_INSERT_ID() AS remaining');
        return Number(row.remaining);
      });
    const placeholder = dialect === 'postgres' ? '$1' : '?';
    const result = await this.query(
      `UPDATE ${table} SET ${remaining} = ${remaining} - 1 WHERE ${id} = ${placeholder} AND ${remaining} > 0 RETURNING ${remaining}`,
      parameters,
    );
    const row = result.records[0] as Record<string, unknown> | undefined;
    return row === undefined ? null : Number(Object.values(row)[0]);
  }

  /**
   * Sets the key's credits to its `refillAmount` if its current period has not been refilled yet.
   *
   * @returns whether this call refilled it (`false`: not due, or another instance did it first)
   */
  async refill(apiKey: T, now: Date): Promise<boolean> {
    if (apiKey.refillInterval == null) return false;
    const { table, remaining, id, refillAmount, lastRefillAt, createdAt } = this.names();
    const driver = this.repository.manager.connection.driver;
    const column = this.repository.metadata.findColumnWithPropertyName('lastRefillAt')!;
    const instant = (date: Date) => driver.preparePersistentValue(date, column);
    const postgres = triggerDialect(this.repository.manager) === 'postgres';
    const p = (n: number) => (postgres ? `$${n}` : '?');
    const result = await this.query(
      `UPDATE ${table} SET ${remaining} = ${refillAmount}, ${lastRefillAt} = ${p(1)} ` +
        `WHERE ${id} = ${p(2)} AND ${refillAmount} IS NOT NULL AND COALESCE(${lastRefillAt}, ${createdAt}) < ${p(3)}`,
      [instant(now), apiKey.id, instant(refillPeriodStart(apiKey.refillInterval, now))],
    );
    return result.affected === 1;
  }

  /** Runs one statement and answers with the driver's structured result. */
  private query(sql: string, parameters: unknown[]) {
    return this.onOneConnection((queryRunner) => queryRunner.query(sql, parameters, true));
  }

  /** Runs `work` on one connection of the pool, released afterwards. */
  private async onOneConnection<R>(work: (queryRunner: QueryRunner) => Promise<R>): Promise<R> {
    const queryRunner = this.repository.manager.connection.createQueryRunner('master');
    try {
      return await work(queryRunner);
    } finally {
      await queryRunner.release();
    }
  }

  /** The table's and columns' names, quoted for the connected driver. */
  private names() {
    const { metadata } = this.repository;
    const driver = this.repository.manager.connection.driver;
    const column = (property: string) =>
      driver.escape(metadata.findColumnWithPropertyName(property)!.databaseName);
    return {
      table: metadata.tablePath
        .split('.')
        .map((part) => driver.escape(part))
        .join('.'),
      id: column('id'),
      remaining: column('remaining'),
      refillAmount: column('refillAmount'),
      lastRefillAt: column('lastRefillAt'),
      createdAt: column('createdAt'),
    };
  }
}
