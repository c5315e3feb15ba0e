/**
 * The node-wide history budget of the memory broker: every kept publication of every channel, in publish order, so
 * the oldest one anywhere is found in O(1) and evicted first when the kept bytes exceed the budget.
 *
 * Publish order is time order, and each stream keeps its publications in the same order, so the oldest kept
 * publication of all is always the oldest of its own stream (its history head): evicting it just moves that stream's
 * `earliest` by one. Entries whose publication already left its stream (trimmed by size or age, or the stream was
 * dropped) are stale: skipped when they reach the front, and compacted away once they are at least half of the
 * queue. Every operation is O(1) amortized; no operation walks the channels.
 */
import type { Publication } from './broker.js';
import type { Stream } from './memory-stream.js';

/** Stale entries are compacted away once there are at least this many and they are at least half of the queue. */
const COMPACT_MIN_STALE = 1024;

export class RetentionQueue {
  private streams: (Stream | undefined)[] = [];
  private pubs: (Publication | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.pubs.length - this.head;
  }

  push(s: Stream, pub: Publication): void {
    this.streams.push(s);
    this.pubs.push(pub);
  }

  /**
   * Evicts the oldest kept publication of all from its stream and returns its bytes, or 0 when nothing is kept any
   * more (every entry was stale).
   */
  evictOldest(): number {
    const { streams, pubs } = this;
    while (this.head < pubs.length) {
      const s = streams[this.head]!;
      const pub = pubs[this.head]!;
      streams[this.head] = undefined;
      pubs[this.head++] = undefined;
      if (s.holdsOldest(pub)) {
        const freed = s.evictOldest();
        this.compactHead();
        return freed;
      }
    }
    this.compactHead();
    return 0;
  }

  /** Drops stale entries once they are at least half of the queue; `kept` is how many publications are kept in all. */
  compact(kept: number): void {
    const stale = this.length - kept;
    if (stale < COMPACT_MIN_STALE || stale * 2 < this.length) return;
    const streams: Stream[] = [];
    const pubs: Publication[] = [];
    for (let i = this.head; i < this.pubs.length; i++) {
      const s = this.streams[i]!;
      const pub = this.pubs[i]!;
      if (s.holds(pub)) {
        streams.push(s);
        pubs.push(pub);
      }
    }
    this.streams = streams;
    this.pubs = pubs;
    this.head = 0;
  }

  clear(): void {
    this.streams = [];
    this.pubs = [];
    this.head = 0;
  }

  /** Releases the evicted head slots in bulk (as Stream.trim does): O(1) amortized per eviction. */
  private compactHead(): void {
    const end = this.pubs.length;
    if (this.head === end) {
      this.clear();
    } else if (this.head >= COMPACT_MIN_STALE && this.head * 2 >= end) {
      this.streams.copyWithin(0, this.head);
      this.pubs.copyWithin(0, this.head);
      this.streams.length = end - this.head;
      this.pubs.length = end - this.head;
      this.head = 0;
    }
  }
}
