/**
 * The memory broker's table of idempotency keys (docs/api.md "Idempotent publish"): `channel + key` → the position the
 * first publish with that key got, kept for the request's window. Bounded for the whole process by a count and a byte
 * total (counted roughly: both strings plus a fixed overhead); past either bound the oldest entries are forgotten
 * first, so a retry of a very old key may publish again, never a new key refused. Reads never create entries: only a
 * publication that took an offset is remembered.
 */
import type { StreamPosition } from './broker.js';

/** Default most keys remembered at once, across channels. */
export const DEFAULT_IDEMPOTENCY_MAX_KEYS = 100_000;
/** Default most bytes of keys remembered at once (16 MiB). */
export const DEFAULT_IDEMPOTENCY_MAX_BYTES = 16 * 1024 * 1024;
/** Rough cost of one entry beyond its strings: the map slot, the entry object and its position (bytes). */
const ENTRY_OVERHEAD = 96;

interface Entry {
  readonly epoch: string;
  readonly offset: number;
  readonly time: number;
  readonly expires: number;
  readonly bytes: number;
}

export class IdempotencyTable {
  /** In insertion order; with one window per node that is also expiry order, so sweeps and eviction read the front. */
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  private forgotten = 0;

  constructor(
    private readonly maxKeys = DEFAULT_IDEMPOTENCY_MAX_KEYS,
    private readonly maxBytes = DEFAULT_IDEMPOTENCY_MAX_BYTES,
  ) {
    if (!Number.isSafeInteger(maxKeys) || maxKeys < 1) throw new TypeError(`memory broker: idempotencyMaxKeys must be an integer >= 1, got ${maxKeys}`);
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) throw new TypeError(`memory broker: idempotencyMaxBytes must be an integer >= 1, got ${maxBytes}`);
  }

  /** The position remembered for this key, or undefined (never seen, or its window passed). Creates nothing. */
  get(channel: string, key: string, now: number): (StreamPosition & { time: number }) | undefined {
    const e = this.entries.get(entryKey(channel, key));
    if (!e || e.expires <= now) return undefined;
    return { epoch: e.epoch, offset: e.offset, time: e.time };
  }

  /** Remembers the position a publication got, for `windowMs`. */
  set(channel: string, key: string, pos: StreamPosition, time: number, windowMs: number): void {
    const k = entryKey(channel, key);
    this.drop(k);
    const e: Entry = { epoch: pos.epoch, offset: pos.offset, time, expires: time + windowMs, bytes: 2 * k.length + pos.epoch.length + ENTRY_OVERHEAD };
    this.entries.set(k, e);
    this.bytes += e.bytes;
    for (const [oldest] of this.entries) {
      if (this.entries.size <= this.maxKeys && this.bytes <= this.maxBytes) break;
      this.drop(oldest);
      this.forgotten++;
    }
  }

  /** Drops entries whose window passed (from the front, stopping at the first live one). */
  sweep(now: number): void {
    for (const [k, e] of this.entries) {
      if (e.expires > now) break;
      this.drop(k);
    }
  }

  stats(): { keys: number; bytes: number; forgotten: number } {
    return { keys: this.entries.size, bytes: this.bytes, forgotten: this.forgotten };
  }

  private drop(k: string): void {
    const e = this.entries.get(k);
    if (!e) return;
    this.entries.delete(k);
    this.bytes -= e.bytes;
  }
}

/** A channel name holds no NUL (core/channels.ts), so the pair cannot collide. */
function entryKey(channel: string, key: string): string {
  return channel + '\0' + key;
}
