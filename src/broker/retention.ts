/**
 * The node-wide history budget of the memory broker: every kept publication of every channel, in publish order, so
 * the oldest one anywhere is found in O(1) and evicted first when the kept bytes exceed the budget.
 *
 * Publish order is time order, and each stream keeps its publications in the same order, so the oldest kept
 * publication of all is always the oldest of its own stream (its history head): evicting it just moves that stream's
 * `earliest` by one. Entries whose publication already left its stream (trimmed by size or age, or the stream was
 * dropped) are stale: skipped when they reach the front, and compacted away once they are at least half of the
 * queue. Every operation is O(1) amortized; no operation walks the channels. Entries name a publication by its
 * stream and offset, never by reference, so a stale entry pins no publication data.
 */
import type { Stream } from './memory-stream.js';

/** Stale entries are compacted away once there are at least this many and they are at least half of the queue. */
const COMPACT_MIN_STALE = 1024;

export class RetentionQueue {
  private streams: (Stream | undefined)[] = [];
  private offsets: number[] = [];
  private head = 0;

  get length(): number {
    return this.offsets.length - this.head;
  }

  /** Records that `s` now keeps the publication at `offset` (its newest). */
  push(s: Stream, offset: number): void {
    this.streams.push(s);
    this.offsets.push(offset);
  }

  /**
   * Evicts the oldest kept publication of all from its stream and returns its bytes, or 0 when nothing is kept any
   * more (every entry was stale).
   */
  evictOldest(): number {
    const { streams, offsets } = this;
    while (this.head < offsets.length) {
      const s = streams[this.head]!;
      const offset = offsets[this.head++]!;
      streams[this.head - 1] = undefined;
      if (s.holdsOldest(offset)) {
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
    const offsets: number[] = [];
    for (let i = this.head; i < this.offsets.length; i++) {
      const s = this.streams[i]!;
      const offset = this.offsets[i]!;
      if (s.holds(offset)) {
        streams.push(s);
        offsets.push(offset);
      }
    }
    this.streams = streams;
    this.offsets = offsets;
    this.head = 0;
  }

  clear(): void {
    this.streams = [];
    this.offsets = [];
    this.head = 0;
  }

  /** Releases the evicted head slots in bulk (as Stream.trim does): O(1) amortized per eviction. */
  private compactHead(): void {
    const end = this.offsets.length;
    if (this.head === end) {
      this.clear();
    } else if (this.head >= COMPACT_MIN_STALE && this.head * 2 >= end) {
      this.streams.copyWithin(0, this.head);
      this.offsets.copyWithin(0, this.head);
      this.streams.length = end - this.head;
      this.offsets.length = end - this.head;
      this.head = 0;
    }
  }
}
