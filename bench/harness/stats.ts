/** The few statistics the bench takes: percentiles of latencies and medians of windows. */

/** The `p`th percentile (nearest rank) of ascending `sorted`; NaN when it is empty. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** The middle value (the upper one of an even count). */
export const median = (values: number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** Several sorted latency logs as one, sorted. */
export function pooled(parts: Float64Array[]): Float64Array {
  const all = new Float64Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    all.set(part, offset);
    offset += part.length;
  }
  return all.sort();
}

/** Latencies of 2xx answers, in ms at full precision (autocannon's own histogram rounds to 1 ms). */
export class LatencyLog {
  private values = new Float64Array(1 << 16);
  private count = 0;

  /** Records one latency. */
  add(ms: number): void {
    if (this.count === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.count++] = ms;
  }

  /** The recorded latencies, ascending. */
  sorted(): Float64Array {
    return this.values.slice(0, this.count).sort();
  }
}
