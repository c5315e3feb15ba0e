/**
 * Proxy answers the backend allowed to reuse (`cache_ttl`), bounded in bytes across all users
 * (`proxy.cacheMaxBytes`, default 8 MiB): the least recently used go first. Nothing is kept without a TTL.
 */
import type { ProxyAnswer } from './answer.js';

interface Entry {
  readonly answer: ProxyAnswer;
  readonly expiresAt: number;
  readonly bytes: number;
}

/** Bytes an entry is counted as: its key and answer as UTF-16 text, plus ~100 bytes of bookkeeping. */
const OVERHEAD = 100;

export class AnswerCache {
  /** Insertion order is recency order: a hit moves its entry to the end. */
  private readonly entries = new Map<string, Entry>();
  private total = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly now: () => number = Date.now,
  ) {}

  get bytes(): number {
    return this.total;
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): ProxyAnswer | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    this.entries.delete(key);
    if (e.expiresAt <= this.now()) {
      this.total -= e.bytes;
      return undefined;
    }
    this.entries.set(key, e);
    return e.answer;
  }

  /** Keeps `answer` for its `cacheTtlMs` when it has one and fits. */
  set(key: string, answer: ProxyAnswer): void {
    if (answer.cacheTtlMs <= 0 || this.maxBytes === 0) return;
    const bytes = 2 * (key.length + answer.size) + OVERHEAD;
    if (bytes > this.maxBytes) return;
    const old = this.entries.get(key);
    if (old) {
      this.entries.delete(key);
      this.total -= old.bytes;
    }
    this.entries.set(key, { answer, expiresAt: this.now() + answer.cacheTtlMs, bytes });
    this.total += bytes;
    for (const [k, e] of this.entries) {
      if (this.total <= this.maxBytes) break;
      this.entries.delete(k);
      this.total -= e.bytes;
    }
  }
}
