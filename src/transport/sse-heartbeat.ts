/** A stream that can be sent a heartbeat (an SSE session). */
export interface Beating {
  heartbeat(): void;
}

/** Slots of the wheel at most: the default 15 s interval is checked once a second. */
const MAX_SLOTS = 15;
/** The shortest tick (ms): a short interval (tests) gets fewer slots rather than a faster timer. */
const MIN_TICK_MS = 50;

/**
 * The heartbeats of every SSE stream of a transport, on one timer: a wheel of `slots` sets, one of which is due per
 * tick (`interval / slots` ms, kept to the clock), so each stream is sent a heartbeat every `interval` ms, and the
 * streams of one slot together (what a timer per stream did, at ~0.25 KiB of Timeout, closure and context per
 * stream). A stream added now goes into the slot due last, so its first heartbeat comes at most `interval` after it
 * was added. The streams that opened within one tick share a slot; the others are spread over the interval as before.
 */
export class SseHeartbeat<T extends Beating> {
  private readonly slots: Set<T>[] = [];
  private readonly timer: NodeJS.Timeout | undefined;
  /** Ms per tick (interval / slots), and when tick 0 was due (performance.now()). */
  private readonly tickMs: number = 0;
  private readonly start = performance.now();
  /** Ticks done so far: the next one beats slot `done % slots`. */
  private done = 0;

  /** `interval` ms between a stream's heartbeats; 0 or less: none (no timer). */
  constructor(interval: number) {
    if (interval <= 0) return;
    const n = Math.max(1, Math.min(MAX_SLOTS, Math.floor(interval / MIN_TICK_MS)));
    for (let i = 0; i < n; i++) this.slots.push(new Set());
    this.tickMs = interval / n;
    this.timer = setInterval(() => this.tick(), this.tickMs);
    this.timer.unref();
  }

  /** Starts a stream's heartbeats (no-op when heartbeats are off). */
  add(stream: T): void {
    const n = this.slots.length;
    if (n === 0) return;
    // The slot beaten last in the coming round: less than a full interval from now.
    this.slots[(this.done + n - 1) % n]!.add(stream);
  }

  /** Stops a stream's heartbeats (when it closed). */
  delete(stream: T): void {
    for (const slot of this.slots) if (slot.delete(stream)) return;
  }

  /** Streams with heartbeats running. */
  get size(): number {
    let n = 0;
    for (const slot of this.slots) n += slot.size;
    return n;
  }

  /**
   * Beats the slots due by the clock, not by the count of timer callbacks: a late callback (a busy loop) would
   * otherwise stretch every stream's interval by the delays of all the ticks of a round. After a stall longer than
   * the interval, each slot is beaten once.
   */
  private tick(): void {
    const n = this.slots.length;
    const due = Math.floor((performance.now() - this.start) / this.tickMs);
    if (due - this.done > n) this.done = due - n;
    for (; this.done < due; this.done++) {
      for (const s of this.slots[this.done % n]!) s.heartbeat();
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    for (const slot of this.slots) slot.clear();
  }
}
