import type { ApiKeyHasher } from '../../lib/keys/hasher.js';

/**
 * Wraps a real hasher and counts what the service asks of it, so tests can tell a memoised
 * check (no hasher call) from a real one. It can also hold `verify` calls at a gate, to see
 * how many run at once.
 */
export class CountingHasher implements ApiKeyHasher {
  verifyCalls = 0;
  hashCalls = 0;
  /** `verify` calls running inside the wrapped hasher right now, and the most seen at once. */
  running = 0;
  peak = 0;
  private gate: Promise<void> | null = null;
  private openGate: (() => void) | null = null;
  private entered: Array<() => void> = [];

  constructor(private readonly inner: ApiKeyHasher) {}

  get algorithm(): string {
    return this.inner.algorithm;
  }

  get maxInputBytes(): number | undefined {
    return this.inner.maxInputBytes;
  }

  hash(key: string): Promise<string> {
    this.hashCalls++;
    return this.inner.hash(key);
  }

  async verify(key: string, hashed: string): Promise<boolean> {
    this.verifyCalls++;
    this.running++;
    this.peak = Math.max(this.peak, this.running);
    this.entered.shift()?.();
    try {
      if (this.gate) await this.gate;
      return await this.inner.verify(key, hashed);
    } finally {
      this.running--;
    }
  }

  recognizes(hashed: string): boolean {
    return this.inner.recognizes(hashed);
  }

  needsRehash(hashed: string): boolean {
    return this.inner.needsRehash(hashed);
  }

  /** Holds every `verify` call from now on until `release()`. */
  hold(): void {
    this.gate = new Promise((resolve) => (this.openGate = resolve));
  }

  release(): void {
    this.openGate?.();
    this.gate = null;
  }

  /** Resolves when the next `verify` call has entered the hasher. */
  nextEntry(): Promise<void> {
    return new Promise((resolve) => this.entered.push(resolve));
  }
}
