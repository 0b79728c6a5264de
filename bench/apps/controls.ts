/**
 * The control guards of the same-process row set. The control reads the `Authorization` header:
 * the floor of any guard. The round-trip control adds one database round trip per batch of
 * requests, with nothing else of a key check: the floor of any guard that reads the store for
 * each request, as `ApiKeyGuard` does by default.
 */
import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { runnerFor } from '../../lib/store/compiled/lookup.js';
import type { StatementRunner } from '../../lib/store/compiled/runners.js';

/**
 * Shares one `SELECT 1` among the requests of two turns of the event loop, run through the
 * runner the key lookup reads with, and scheduled as the lookup schedules its shared read: one
 * read out at a time, and callers that come while it is out wait for the next. Unlike the
 * lookup it sets no deadline timer and hydrates nothing: a bare round trip.
 */
export class SharedRoundTrip {
  private waiting: Array<{ resolve: () => void; reject: (error: unknown) => void }> = [];
  private scheduled = false;
  private out = false;

  constructor(private readonly run: StatementRunner) {}

  /** Resolves once a round trip that began after this call has come back. */
  wait(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      if (!this.out) this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => setImmediate(this.start));
  }

  private readonly start = (): void => {
    this.scheduled = false;
    const batch = this.waiting;
    this.waiting = [];
    this.out = true;
    const settle = (answer: (waiter: (typeof batch)[number]) => void) => {
      this.out = false;
      for (const waiter of batch) answer(waiter);
      if (this.waiting.length > 0) this.schedule();
    };
    this.run('SELECT 1', []).then(
      () => settle((waiter) => waiter.resolve()),
      (error: unknown) => settle((waiter) => waiter.reject(error)),
    );
  };
}

/** Whether the request carries an `Authorization` header: the whole of the control's check. */
function hasAuthorizationHeader(context: ExecutionContext): boolean {
  return typeof context.switchToHttp().getRequest().headers.authorization === 'string';
}

/** The control: reads the `Authorization` header and lets the request in when there is one. */
@Injectable()
export class AuthorizationHeaderGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    return hasAuthorizationHeader(context);
  }
}

/** The control's check, then one round trip to the app's database, shared with the batch. */
@Injectable()
export class RoundTripControlGuard implements CanActivate {
  private readonly roundTrip: SharedRoundTrip;

  constructor(@InjectDataSource() dataSource: DataSource) {
    this.roundTrip = new SharedRoundTrip(runnerFor(dataSource));
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (!hasAuthorizationHeader(context)) return false;
    await this.roundTrip.wait();
    return true;
  }
}
