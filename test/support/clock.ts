/**
 * A clock a test moves by hand. Pass `clock.now` as the `clock` option of `ApiKeyModule`, so
 * expiry is tested at exact instants without sleeping.
 */
export class FakeClock {
  private current: number;

  /** @param start the instant the clock shows until moved; a fixed date keeps runs reproducible */
  constructor(start: Date = new Date('2031-03-14T15:09:26.535Z')) {
    this.current = start.getTime();
  }

  /** The current fake instant, a fresh `Date` each call so callers cannot move the clock by mutating it. */
  readonly now = (): Date => new Date(this.current);

  /** Moves the clock to `instant`. */
  set(instant: Date): void {
    this.current = instant.getTime();
  }

  /** Moves the clock forward by `ms` milliseconds. */
  advance(ms: number): void {
    this.current += ms;
  }
}
