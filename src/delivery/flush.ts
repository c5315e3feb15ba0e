/**
 * Coalesces writes: connections with queued bytes are flushed together once per event-loop turn, so several
 * messages for one socket leave in one syscall.
 *
 * Under load the window widens: the next flush starts no sooner than the previous flush took (capped by
 * `maxDelayMs`, config `delivery.maxWriteDelay`). A server spending 20 ms writing to 2,000 sockets thus waits
 * up to 20 ms before the next round and writes the publications that arrived meanwhile in one go, instead of paying
 * one ~10 µs syscall per socket per publication.
 *
 * The window opens only when publications arrive faster than rounds are written: the next connection is marked
 * within a quarter of the previous round's duration after that round ended (`OPEN_MAX_GAP`), i.e. the publication
 * was already waiting while the round was written and the loop is mostly writing, or within one round's duration
 * after a round that wrote more than one message per connection (it is coalescing: saturation, where a busy
 * machine's preemption may stretch the gap). A publication arriving later than that (20 publications/s, rounds of
 * 10-40 ms even on a busy machine, the next publication 10-35 ms after a round) is written at once: delaying it
 * would merge nothing and only add the wait to every delivery. When idle the window is zero and latency stays that
 * of an immediate write.
 *
 * The window must still pay for itself: a delayed round whose connections got no more than one message each on
 * average coalesced nothing and only added its wait to every delivery (a publication that happened to come right
 * after a round: a sequential publisher catching up after a pause). Then the next 16 rounds run without a window, 32
 * after the next such round, and so on up to 1,024; a round that coalesced (delayed or not) resets this.
 */
export interface Flushable {
  /** Writes the queued bytes. Called at most once per round, only for marked connections. */
  flush(): void;
}

/** Rounds without a window after a delayed round that coalesced nothing: the first time, and at most. */
const MIN_CLOSED_ROUNDS = 16;
const MAX_CLOSED_ROUNDS = 1024;
/** Fan-outs at least this large write in their own turn when the window is shut (FlushScheduler.fannedOut). */
const IN_TURN_MIN_RECIPIENTS = 64;
/**
 * The window opens when the next mark comes at most this share of the previous round's duration after it ended: the
 * loop spent at least 80 % of that stretch writing, so the publication was waiting behind the round. After a round
 * that coalesced (more than one message per connection), a mark up to one round's duration later still opens it.
 */
const OPEN_MAX_GAP = 0.25;

export class FlushScheduler {
  /**
   * Connections marked for the next round: `dirty[0..dirtyCount)`. The array is never shortened (a `length = 0`
   * would free its backing store and the next round would grow it again, one allocation per few connections);
   * slots are cleared after each round so a closed connection is not kept.
   */
  private dirty: (Flushable | undefined)[] = [];
  private dirtyCount = 0;
  private spare: (Flushable | undefined)[] = [];
  private scheduled = false;
  /** The pending `setImmediate` of an undelayed round (cleared when the round runs in the publication's turn). */
  private immediate: NodeJS.Immediate | null = null;
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
  /** Whether the last round wrote more than one message per connection on average (publications were coalesced). */
  private lastCoalesced = false;

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
    this.dirty[this.dirtyCount++] = f;
    if (this.scheduled) return;
    this.scheduled = true;
    let wait = 0;
    if (this.maxDelayMs > 0 && this.closedFor === 0 && this.lastDuration > 0) {
      const gap = performance.now() - this.lastEnd;
      if (gap <= this.lastDuration * (this.lastCoalesced ? 1 : OPEN_MAX_GAP)) wait = Math.min(this.maxDelayMs, this.lastDuration) - gap;
    }
    this.delayedNext = wait >= 1;
    if (wait >= 1) {
      this.delayedRounds++;
      setTimeout(this.run, wait);
    } else {
      this.immediate = setImmediate(this.run);
    }
  }

  /**
   * A publication was fanned out to `recipients` local connections. When its round is not delayed by the window,
   * it runs at the end of the current task (a microtask) instead of after the loop's other I/O callbacks: the
   * writes leave in the publication's own turn, as the bare baseline's do, and publications fanned out together in
   * one task (a broker's batch) still share the round. Small fan-outs keep the `setImmediate` round, which also
   * gathers command replies and publications of other callbacks of the same loop phase.
   */
  fannedOut(recipients: number): void {
    if (recipients < IN_TURN_MIN_RECIPIENTS || this.immediate === null) return;
    clearImmediate(this.immediate);
    this.immediate = null;
    queueMicrotask(this.run);
  }

  /** Flushes everything now (shutdown). */
  flushNow(): void {
    this.run();
  }

  private readonly run = (): void => {
    // A round already run (flushNow, or in the publication's turn) leaves nothing for its timer.
    if (!this.scheduled && this.dirtyCount === 0) return;
    const start = performance.now();
    if (this.immediate !== null) {
      clearImmediate(this.immediate);
      this.immediate = null;
    }
    // Swap arrays so connections marked during this round (e.g. by a write error path) go to the next one.
    const list = this.dirty;
    const n = this.dirtyCount;
    this.dirty = this.spare;
    this.dirtyCount = 0;
    this.scheduled = false;
    const delayed = this.delayedNext;
    this.delayedNext = false;
    this.messages = 0;
    for (let i = 0; i < n; i++) {
      const f = list[i]!;
      list[i] = undefined;
      f.flush();
    }
    this.lastCoalesced = this.messages > n;
    if (this.lastCoalesced) {
      this.closedFor = 0;
      this.closeNext = MIN_CLOSED_ROUNDS;
    } else if (delayed) {
      this.closedFor = this.closeNext;
      this.closeNext = Math.min(MAX_CLOSED_ROUNDS, this.closeNext * 2);
    } else if (this.closedFor > 0) {
      this.closedFor--;
    }
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
    if (this.dirtyCount > 0 && !this.scheduled) {
      this.scheduled = true;
      this.immediate = setImmediate(this.run);
    }
  };
}
