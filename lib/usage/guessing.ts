import type { Logger } from '@nestjs/common';
import type { ApiKeyEventBus } from '../api-key.events.js';

/**
 * Alerts on guessing: wrong secrets sent for one known prefix, past a threshold within a window.
 */

/**
 * Payload of the `api-key.suspicious` event: `count` wrong secrets were sent for the key with
 * `prefix` within `window` ms (the count when the threshold was reached). Emitted once per
 * window and prefix, in the process that saw them; it never carries a secret.
 *
 * @publicApi
 */
export interface ApiKeySuspiciousEvent {
  type: 'suspicious';
  /** The ApiKeyModule registration the key belongs to. */
  registration: string;
  prefix: string;
  count: number;
  /** The window, in milliseconds. */
  window: number;
  /** When the threshold was reached, by the registration's clock. */
  at: Date;
}

/**
 * Name of the event emitted on `@nestjs/event-emitter`'s bus when wrong secrets for one key
 * pass `guessingAlerts.threshold` within `guessingAlerts.window`: `@OnEvent(API_KEY_SUSPICIOUS_EVENT)`.
 *
 * @publicApi
 */
export const API_KEY_SUSPICIOUS_EVENT = 'api-key.suspicious';

/** A prefix's wrong secrets in its current window. */
interface Window {
  start: number;
  count: number;
  alerted: boolean;
}

/**
 * Counts wrong secrets per prefix in fixed windows starting at each prefix's first wrong secret,
 * and says when one reaches the threshold (once per window). Only prefixes of existing keys are
 * counted (a wrong secret needs a known prefix), and windows that ended are swept, so memory is
 * bounded by the keys under attack within one window.
 */
export class GuessingDetector {
  private readonly windows = new Map<string, Window>();
  /** Prefixes alerted on, to when their alert stands (the end of the window after the alert). */
  private readonly alerts = new Map<string, number>();
  private lastSweep = 0;

  constructor(
    readonly threshold: number,
    readonly window: number,
  ) {}

  /**
   * Notes a wrong secret for `prefix` at `now`; returns the count when it just reached the
   * threshold (the moment to alert), else `null`.
   */
  note(prefix: string, now: number): number | null {
    this.sweep(now);
    let current = this.windows.get(prefix);
    if (!current || now - current.start >= this.window) {
      current = { start: now, count: 0, alerted: false };
      this.windows.set(prefix, current);
    }
    current.count++;
    if (current.alerted || current.count < this.threshold) return null;
    current.alerted = true;
    this.alerts.set(prefix, now + this.window);
    return current.count;
  }

  /** Prefixes alerted on within the last window, as of `now`: the admin page's warning badges. */
  suspicious(now: number): string[] {
    this.sweep(now);
    return [...this.alerts].filter(([, until]) => until > now).map(([prefix]) => prefix);
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < this.window) return;
    this.lastSweep = now;
    for (const [prefix, current] of this.windows)
      if (now - current.start >= this.window) this.windows.delete(prefix);
    for (const [prefix, until] of this.alerts) if (until <= now) this.alerts.delete(prefix);
  }
}

/**
 * A registration's alerts on guessing: counts wrong secrets, and when one key's pass the
 * threshold, logs a warning and emits `api-key.suspicious` on the app's event bus (if any).
 */
export class GuessingAlerts {
  private readonly detector: GuessingDetector;

  constructor(
    private readonly registration: string,
    settings: { threshold: number; window: number },
    private readonly logger: Pick<Logger, 'warn'>,
    private readonly eventBus: () => Promise<ApiKeyEventBus | null>,
  ) {
    this.detector = new GuessingDetector(settings.threshold, settings.window);
  }

  /** Counts a wrong secret for `prefix`, alerting when it makes the threshold. */
  note(prefix: string, now: Date): void {
    const count = this.detector.note(prefix, now.getTime());
    if (count === null) return;
    const window = this.detector.window;
    this.logger.warn(
      `${count} wrong secrets for API key ${prefix} within ${window / 1000} s: someone may be guessing it.`,
    );
    const event: ApiKeySuspiciousEvent = {
      type: 'suspicious',
      registration: this.registration,
      prefix,
      count,
      window,
      at: now,
    };
    void this.eventBus()
      .then((bus) => bus?.emit(API_KEY_SUSPICIOUS_EVENT, event))
      .catch(() => undefined);
  }

  /** See `GuessingDetector.suspicious`. */
  suspicious(now: Date): string[] {
    return this.detector.suspicious(now.getTime());
  }
}
