/**
 * The latest-per-key state of one keyed channel in the memory broker: a compacted log. Each key's entry is its
 * latest publication (an upsert, or a delete kept as a tombstone); entries are ordered by offset, so "every key
 * changed after P" is the log's tail after P.
 *
 * Layout: `slots` is append-only in offset order. A key that changes appends a new slot and kills its old one
 * (the old slot keeps its offset, so binary search over `slots` still works). Dead slots are compacted away once
 * they outnumber the live ones: O(1) amortized per change, and a page starts in O(log n) without a scan.
 */
import { ErrorCode, ReplyError, type ServerPublication } from '../protocol/index.js';
import type { KeyedOptions, StateQuery } from './broker.js';
import { publicationBytes } from './memory-bytes.js';

interface Slot {
  readonly offset: number;
  /** The key's latest publication; undefined once the key moved on (a dead slot). */
  pub: ServerPublication | undefined;
}

/** Dead slots are compacted when there are at least this many and they outnumber the live ones. */
const COMPACT_MIN_DEAD = 64;

export class KeyedLog {
  private readonly byKey = new Map<string, Slot>();
  private slots: Slot[] = [];
  private dead = 0;
  /** Tombstones by key; a Map iterates in insertion order, which is offset order (a new tombstone has the top offset). */
  private readonly tombs = new Map<string, Slot>();
  /** Every tombstone of a delete above this offset is still kept (0: none was ever dropped). */
  complete = 0;
  /** Bytes of the entries kept (publicationBytes), for the broker's node-wide budget. */
  bytes = 0;

  constructor(public options: KeyedOptions) {}

  /** Entries kept, live keys and tombstones. */
  get size(): number {
    return this.byKey.size;
  }

  /**
   * Makes room for a publication to `key` before its offset is assigned: a new key past `maxKeys` first pushes out
   * the oldest tombstone (clients older than it will be told to reset), else it is refused.
   */
  admit(key: string, now: number): void {
    this.expire(now);
    if (this.byKey.has(key) || this.byKey.size < this.options.maxKeys) return;
    const oldest = this.tombs.keys().next();
    if (oldest.done) {
      throw new ReplyError(ErrorCode.LimitExceeded, `keyed channel holds its most keys (${this.options.maxKeys}; keyed.maxKeys): delete some or raise the limit`);
    }
    this.drop(oldest.value);
  }

  /** How many bytes this log would grow by if `key`'s entry became one of `bytes` (negative: it shrinks). */
  growth(key: string, bytes: number): number {
    const old = this.byKey.get(key)?.pub;
    return bytes - (old ? publicationBytes(old) : 0);
  }

  /** Records `pub` (offset just assigned, key admitted) as its key's latest entry. */
  write(pub: ServerPublication): void {
    const key = pub.key!;
    const old = this.byKey.get(key);
    if (old) this.kill(old);
    this.bytes += publicationBytes(pub);
    const slot: Slot = { offset: pub.offset, pub };
    this.slots.push(slot);
    this.byKey.set(key, slot);
    this.tombs.delete(key);
    if (pub.op === 'delete') this.tombs.set(key, slot);
    this.compact();
  }

  /** Drops tombstones at least `tombstoneTtlMs` old; `complete` moves past each. */
  expire(now: number): void {
    const minTime = now - this.options.tombstoneTtlMs;
    for (const [key, slot] of this.tombs) {
      if (slot.pub!.time > minTime) return;
      this.drop(key);
    }
  }

  /** Entries with offset > `after`, in offset order, at most `limit`. */
  page(q: StateQuery): ServerPublication[] {
    const out: ServerPublication[] = [];
    const { slots } = this;
    // First slot with offset > after (slots' offsets strictly increase, dead ones included).
    let lo = 0;
    let hi = slots.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (slots[mid]!.offset <= q.after) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < slots.length && out.length < q.limit; i++) {
      const p = slots[i]!.pub;
      if (p !== undefined) out.push(p);
    }
    return out;
  }

  private drop(key: string): void {
    const slot = this.byKey.get(key)!;
    this.byKey.delete(key);
    this.tombs.delete(key);
    this.complete = Math.max(this.complete, slot.offset);
    this.kill(slot);
    this.compact();
  }

  private kill(slot: Slot): void {
    this.bytes -= publicationBytes(slot.pub!);
    slot.pub = undefined;
    this.dead++;
  }

  private compact(): void {
    if (this.dead < COMPACT_MIN_DEAD || this.dead * 2 < this.slots.length) return;
    this.slots = this.slots.filter((s) => s.pub !== undefined);
    this.dead = 0;
  }
}
