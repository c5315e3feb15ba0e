/**
 * Coalesces writes: connections with queued bytes are flushed together once per event-loop turn, so several
 * messages for one socket leave in one syscall.
 *
 * Under load the window widens: the next flush starts no sooner than the previous flush took (capped by
 * `maxDelayMs`, config `delivery.maxWriteDelay`). A server spending 20 ms writing to 2,000 sockets thus waits
 * up to 20 ms before the next round and writes the publications that arrived meanwhile in one go, instead of paying
 * one ~10 µs syscall per socket per publication. When idle, or when publications arrive further apart than a
 * flush takes, the window is zero and latency stays that of an immediate write.
 *
 * The window must pay for itself: a delayed round whose connections got no more than one message each on average
 * coalesced nothing and only added its wait to every delivery (2,000 subscribers at 20 publications/s on a busy
 * machine: rounds of 30-40 ms, every round delayed). Then the next 16 rounds run without a window, 32 after the
 * next such round, and so on up to 1,024; a round that coalesced (delayed or not) resets this.
 */
export interface Flushable {
  /** Writes the queued bytes. Called at most once per round, only for marked connections. */
  flush(): void;
}

/** Rounds without a window after a delayed round that coalesced nothing: the first time, and at most. */
const MIN_CLOSED_ROUNDS = 16;
const MAX_CLOSED_ROUNDS = 1024;

export class FlushScheduler {
  private dirty: Flushable[] = [];
  private spare: Flushable[] = [];
  private scheduled = false;
  private lastEnd = 0;
  private lastDuration = 0;
  /** Flush rounds run, and rounds that waited for the window (for stats and metrics). */
  rounds = 0;
  delayedRounds = 0;
  /** Messages written in the current round: each queue adds its count when flushed. */
  messages = 0;
  /** Whether the scheduled round waited for the window. */
  private delayedNext = false;
  /** Rounds still to run without a window, and how many the next closing will skip (16, doubling to 1,024). */
  private closedFor = 0;
  private closeNext = MIN_CLOSED_ROUNDS;

  /** Acceptance times (ms) of publications fanned out since the last round, reported once that round has written them. */
  private written: number[] = [];

  constructor(
    private readonly maxDelayMs: number,
    /** Called per publication once its bytes were written to every local socket (publish→write latency). */
    private readonly onWritten?: (acceptedAt: number) => void,
  ) {}

  /** Records that a publication accepted at `acceptedAt` was queued to subscribers in the current round. */
  noteWritten(acceptedAt: number): void {
    if (this.onWritten) this.written.push(acceptedAt);
  }

  mark(f: Flushable): void {
    this.dirty.push(f);
    if (this.scheduled) return;
    this.scheduled = true;
    const wait = this.maxDelayMs > 0 && this.closedFor === 0 ? Math.min(this.maxDelayMs, this.lastDuration) - (performance.now() - this.lastEnd) : 0;
    this.delayedNext = wait >= 1;
    if (wait >= 1) {
      this.delayedRounds++;
      setTimeout(this.run, wait);
    } else {
      setImmediate(this.run);
    }
  }

  /** Flushes everything now (shutdown). */
  flushNow(): void {
    this.run();
  }

  private readonly run = (): void => {
    const start = performance.now();
    // Swap arrays so connections marked during this round (e.g. by a write error path) go to the next one.
    const list = this.dirty;
    this.dirty = this.spare;
    this.scheduled = false;
    const delayed = this.delayedNext;
    this.delayedNext = false;
    this.messages = 0;
    for (let i = 0; i < list.length; i++) list[i]!.flush();
    if (this.messages > list.length) {
      this.closedFor = 0;
      this.closeNext = MIN_CLOSED_ROUNDS;
    } else if (delayed) {
      this.closedFor = this.closeNext;
      this.closeNext = Math.min(MAX_CLOSED_ROUNDS, this.closeNext * 2);
    } else if (this.closedFor > 0) {
      this.closedFor--;
    }
    list.length = 0;
    this.spare = list;
    this.rounds++;
    if (this.written.length > 0) {
      const done = this.written;
      this.written = [];
      for (let i = 0; i < done.length; i++) this.onWritten!(done[i]!);
    }
    this.lastEnd = performance.now();
    // Rounds shorter than a millisecond never open a window.
    const d = this.lastEnd - start;
    this.lastDuration = d >= 1 ? d : 0;
    if (this.dirty.length > 0 && !this.scheduled) {
      this.scheduled = true;
      setImmediate(this.run);
    }
  };
}
