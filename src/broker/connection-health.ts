/**
 * Health of one kind of Redis connection (the command connection, or the subscriber connection(s)). A connection can
 * die without a FIN (peer gone, a frozen Redis): node-redis would wait forever, commands would hang and pub/sub would
 * go deaf. Two signals condemn a connection: a periodic PING unanswered within its timeout (`check`), and a command
 * that missed its deadline (`condemn`). A condemned connection is not usable (the node is not ready) and is replaced
 * by a fresh one; a replacement that does not connect in time fails and is retried at the next check.
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

export class ConnectionHealth {
  private state: HealthState = 'ok';
  /** Bumped by each replacement, so a probe or replacement that ends late does not overwrite a newer state. */
  private generation = 0;
  private stopped = false;
  /** Connections replaced (after a failed check or a missed deadline) since start. */
  replacements = 0;

  constructor(
    /** `command` or `subscriber`, for log lines. */
    private readonly name: string,
    private readonly target: HealthTarget,
    /** A replacement not connected within this many ms fails (retried at the next check). */
    private readonly replaceTimeoutMs: number,
    private readonly logger: HealthLogger,
    /** Called after each successful replacement. */
    private readonly onReplaced: () => void = () => {},
  ) {}

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
      if (answered) return;
      this.logger.warn(`redis broker: ${this.name} connection did not answer PING within ${timeoutMs} ms; replacing it`);
    }
    await this.replace();
  }

  /** The connection is dead now (a command got no reply within its deadline): replace it at once. */
  condemn(why: string): void {
    if (this.stopped || this.state === 'replacing') return;
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
