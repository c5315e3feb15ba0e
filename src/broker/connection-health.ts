/**
 * Health of one kind of Redis connection (the command connection, or the subscriber connection(s)). A connection can
 * die without a FIN (peer gone, a frozen Redis): node-redis would wait forever, commands would hang and pub/sub would
 * go deaf. Two signals condemn a connection: a periodic PING unanswered within its timeout (`check`), and a command
 * that missed its deadline (`condemn`). A condemned connection is not usable (the node is not ready) and is replaced
 * by a fresh one; a replacement that does not connect in time fails and is retried at the next check.
 *
 * Frozen is told from slow. A PING or a command waits behind everything sent before it on the same connection, so on
 * a starved Redis (or behind a burst of this node's own work) it can miss its timeout while replies keep arriving,
 * only late. Replacing such a connection would fail every command queued on it and put the node out of service for
 * nothing. So the connection's replies are noted (`noteReply`): a missed PING or deadline condemns it only when no
 * reply (nor pub/sub message) was read on it in the second half of the window. A slow one is counted (`slow`) and logged, not
 * replaced; the late command itself still fails at its deadline. This needs one connection per health: with several
 * (a cluster's masters) a reply on one says nothing of another, and every miss condemns as before.
 */
import { withDeadline } from './deadline.js';

export interface HealthTarget {
  /** PINGs the connection(s); false when one of them has not answered within `timeoutMs`. */
  probe(timeoutMs: number): Promise<boolean>;
  /** Drops the connection(s) and connects anew (resubscribing, for pub/sub). */
  replace(): Promise<void>;
}

export interface HealthLogger {
  warn(...args: unknown[]): void;
}

type HealthState = 'ok' | 'checking' | 'replacing' | 'failed';

/** A slow connection is logged at most once per this many ms. */
const SLOW_LOG_MS = 10_000;

export class ConnectionHealth {
  private state: HealthState = 'ok';
  /** Bumped by each replacement, so a probe or replacement that ends late does not overwrite a newer state. */
  private generation = 0;
  private stopped = false;
  /** Connections replaced (after a failed check or a missed deadline) since start. */
  replacements = 0;
  /** Missed PINGs or deadlines on a connection that was still reading replies (slow, not frozen): not replaced. */
  slow = 0;
  /** When the last reply was read, performance.now() ms. */
  private lastReplyAt = -Infinity;
  /** When a slow connection was last logged (one line per SLOW_LOG_MS at most). */
  private slowLoggedAt = -Infinity;

  constructor(
    /** `command` or `subscriber`, for log lines. */
    private readonly name: string,
    private readonly target: HealthTarget,
    /** A replacement not connected within this many ms fails (retried at the next check). */
    private readonly replaceTimeoutMs: number,
    private readonly logger: HealthLogger,
    /** Called after each successful replacement. */
    private readonly onReplaced: () => void = () => {},
    /** One connection behind this health (not a cluster's several): its replies tell slow from frozen. */
    private readonly singleConnection = true,
  ) {}

  /** A reply (or a pub/sub message) was read on the connection: it is alive, however late its answers are. */
  noteReply(): void {
    this.lastReplyAt = performance.now();
  }

  /**
   * True when a reply was read in the second half of the window that just ran out: the connection is slow, not frozen.
   * Not the whole window: the reply to the command just before the missed one is read a moment before the missed one
   * is sent, so "within the whole window" would call a connection that froze right after it slow. A slow connection
   * reads replies all along (behind a backlog they come one after another), so it shows some in the second half too.
   */
  private progressing(windowMs: number, what: string): boolean {
    if (!this.singleConnection || performance.now() - this.lastReplyAt >= windowMs / 2) return false;
    this.slow++;
    const now = performance.now();
    if (now - this.slowLoggedAt >= SLOW_LOG_MS) {
      this.slowLoggedAt = now;
      this.logger.warn(`redis broker: ${this.name} connection ${what}, but replies are still arriving: slow, not replaced (${this.slow} such since start)`);
    }
    return true;
  }

  /** False from the moment the connection is condemned until its replacement is connected. */
  get usable(): boolean {
    return this.state === 'ok' || this.state === 'checking';
  }

  /** PINGs the connection; replaces it when the PONG has not come within `timeoutMs` or a replacement is due. */
  async check(timeoutMs: number): Promise<void> {
    if (this.stopped || this.state === 'checking' || this.state === 'replacing') return;
    if (this.state === 'ok') {
      this.state = 'checking';
      const generation = this.generation;
      const answered = await this.target.probe(timeoutMs);
      if (this.stopped || generation !== this.generation) return; // condemned meanwhile: that replacement owns the state
      this.state = 'ok';
      if (answered) {
        this.noteReply();
        return;
      }
      if (this.progressing(timeoutMs, `did not answer PING within ${timeoutMs} ms`)) return;
      this.logger.warn(`redis broker: ${this.name} connection did not answer PING within ${timeoutMs} ms; replacing it`);
    }
    await this.replace();
  }

  /**
   * A command got no reply within its deadline (`windowMs`): the connection is dead, and replaced at once, unless it
   * read a reply within that window (slow: counted and kept).
   */
  condemn(why: string, windowMs: number): void {
    if (this.stopped || this.state === 'replacing') return;
    if (this.progressing(windowMs, why)) return;
    this.logger.warn(`redis broker: ${this.name} connection ${why}; replacing it`);
    void this.replace();
  }

  stop(): void {
    this.stopped = true;
  }

  private async replace(): Promise<void> {
    const generation = ++this.generation;
    this.state = 'replacing';
    this.replacements++;
    try {
      await withDeadline(this.target.replace(), this.replaceTimeoutMs, () => new Error(`not connected within ${this.replaceTimeoutMs} ms`));
      if (this.stopped || generation !== this.generation) return;
      this.state = 'ok';
      this.logger.warn(`redis broker: ${this.name} connection replaced`);
      this.onReplaced();
    } catch (err) {
      if (this.stopped || generation !== this.generation) return;
      this.state = 'failed';
      this.logger.warn({ err }, `redis broker: replacing the ${this.name} connection failed; retrying at the next check`);
    }
  }
}
