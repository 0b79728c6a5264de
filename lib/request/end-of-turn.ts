/**
 * Answers handed in during one turn of the event loop, worked out together at its end.
 *
 * Why: a request's path through a Nest app is long (HTTP parser, router, guards, handler,
 * serialiser, socket write), and on a busy 2-core host the caches do not hold all of it. When
 * each request runs the whole path alone, every step of it starts cold. When the guard instead
 * answers at the end of the turn, the turn's requests run its check one after another, and then
 * their handlers and responses one after another: each step runs hot for all but the first. In
 * the same-process bench (bench/README.md, row 13b) a cache hit of notify mode answered this way
 * measured 0.97–1.05 of the open route, against 0.79–0.86 when each request was answered at once
 * (2026-12-06). Read mode gets the same grouping from its shared reads (`store/lookup.ts`).
 *
 * The cost is one turn of the loop per request: next to nothing when idle, and under load the
 * turn is spent on other requests anyway.
 */
export class EndOfTurnAnswers<T> {
  private items: T[] = [];
  private settlers: Array<{
    resolve: (answer: boolean | Promise<boolean>) => void;
    reject: (error: unknown) => void;
  }> = [];

  /**
   * @param answer works out one item's answer at the end of the turn: a boolean, or a promise
   *   of one when it needs more (a read); what it throws rejects that item's promise alone
   */
  constructor(private readonly answer: (item: T) => boolean | Promise<boolean>) {}

  /** The answer for `item`, worked out at the end of this turn with the turn's other items. */
  add(item: T): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.items.push(item);
      if (this.settlers.push({ resolve, reject }) === 1) setImmediate(this.settle);
    });
  }

  private readonly settle = (): void => {
    const { items, settlers } = this;
    this.items = [];
    this.settlers = [];
    for (let i = 0; i < items.length; i++) {
      try {
        settlers[i].resolve(this.answer(items[i]));
      } catch (error) {
        settlers[i].reject(error);
      }
    }
  };
}
