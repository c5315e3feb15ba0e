/**
 * One channel's stream in the memory broker: positions plus the kept publications, whose offsets are contiguous
 * (trimmed at the head), and the byte count the node-wide history budget works with (retention.ts).
 */
import type { HistoryBounds, ServerPublication } from './broker.js';
import { publicationBytes } from './memory-bytes.js';
import type { KeyedLog } from './keyed-memory.js';

/** The history array is compacted once this many slots at its head are dead (and they are at least half of it). */
const COMPACT_MIN_HEAD = 64;

export class Stream {
  /** Offset of the last publication; 0 = nothing published in this epoch. */
  offset = 0;
  /** Kept publications live in `items[head..]`; dead head slots are cleared and compacted away in bulk. */
  items: (ServerPublication | undefined)[] = [];
  head = 0;
  /** Bytes of the kept publications (publicationBytes). */
  bytes = 0;
  /** Latest publication per key, for a channel published with keys (keyed channel); created by its first one. */
  keyed: KeyedLog | undefined;
  /** When the broker last moved this stream to the recent end of its activity order (ms). */
  orderedAt: number;
  constructor(
    readonly epoch: string,
    /** Last publish, creation or unsubscribe (ms); the idle-expiry clock starts here. */
    public lastActive: number,
    /** Bounds of the last publish (the broker default until one overrides them). */
    public bounds: HistoryBounds,
  ) {
    this.orderedAt = lastActive;
  }

  get kept(): number {
    return this.items.length - this.head;
  }

  /** Offset of the oldest kept publication; `offset + 1` when none is kept. */
  get earliest(): number {
    return this.kept > 0 ? this.items[this.head]!.offset : this.offset + 1;
  }

  /** True when the publication at `offset` is the oldest this stream still keeps (the budget evicts only that one). */
  holdsOldest(offset: number): boolean {
    return this.head < this.items.length && this.items[this.head]!.offset === offset;
  }

  /** True when the publication at `offset` is still kept. */
  holds(offset: number): boolean {
    return this.head < this.items.length && offset >= this.items[this.head]!.offset;
  }

  /** The broker dropped this stream: its publications are released at once (budget queue entries may outlive it). */
  release(): void {
    this.items = [];
    this.head = 0;
    this.bytes = 0;
  }

  push(pub: ServerPublication, bytes: number): void {
    this.items.push(pub);
    this.bytes += bytes;
  }

  /** Drops publications beyond `size` and those at least `ttlMs` old. Only ever drops from the head. */
  trim(now: number): void {
    const { items } = this;
    const { size, ttlMs } = this.bounds;
    const minTime = now - ttlMs;
    const end = items.length;
    while (this.head < end && (end - this.head > size || items[this.head]!.time <= minTime)) this.dropHead();
    this.compact();
  }

  /** Drops the oldest kept publication (the node-wide budget needs room): `earliest` moves past it. Returns its bytes. */
  evictOldest(): number {
    const freed = this.head < this.items.length ? this.dropHead() : 0;
    this.compact();
    return freed;
  }

  private dropHead(): number {
    const bytes = publicationBytes(this.items[this.head]!);
    this.bytes -= bytes;
    this.items[this.head++] = undefined;
    return bytes;
  }

  private compact(): void {
    const { items, head } = this;
    const end = items.length;
    if (head === end) {
      items.length = 0;
      this.head = 0;
    } else if (head >= COMPACT_MIN_HEAD && head * 2 >= end) {
      // Copies at most `head` live items after `head` trims: O(1) amortized per publish, and no new array.
      items.copyWithin(0, head);
      items.length = end - head;
      this.head = 0;
    }
  }
}
