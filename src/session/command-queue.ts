import type { Disconnect } from '../protocol/index.js';

/** What the queue needs from its connection: how to run each kind of entry, and how to stop reading. */
export interface CommandQueueHost<C, E> {
  /** True once the connection closed: what still waits is dropped. */
  isClosed(): boolean;
  /** Runs one command (checks, broker work, reply); the next waits until it settles. */
  run(command: C): Promise<void>;
  /** Answers a frame that could not be read as a command. */
  badFrame(error: E): void;
  /** Sends a reply made ahead of time (a rate refusal), then closes with `close` when given. */
  sendRaw(frame: Buffer, close?: Disconnect): void;
  /** Stops / restarts reading the connection's frames (TCP then pushes back on the client). */
  pause(): void;
  resume(): void;
}

type Entry<C, E> =
  | { kind: 'command'; command: C; size: number }
  | { kind: 'bad'; error: E }
  | { kind: 'raw'; frame: Buffer; close: Disconnect | undefined };

/**
 * A connection's commands, run one at a time in arrival order, so replies and their side effects keep the client's
 * order; bad frames and rate refusals wait their turn behind the commands before them.
 *
 * A command may wait long (a reply waiting for the client to read, a paced replay). Past `maxBacklogBytes`
 * (`client.queueMaxBytes`) of waiting frames the connection is not read until half of them ran, so a client that
 * stops reading cannot pile commands up in memory meanwhile (one that kept sending 400 KB publishes held ~170 MB
 * until the write timeout closed it).
 */
export class CommandQueue<C, E> {
  private readonly pending: Entry<C, E>[] = [];
  private busy = false;
  /** Bytes of the command frames waiting in `pending`, and whether reading is paused for them. */
  private backlog = 0;
  private readPaused = false;

  constructor(
    private readonly host: CommandQueueHost<C, E>,
    private readonly maxBacklogBytes: number,
  ) {}

  /** True when nothing runs or waits: an entry added now is handled at once. */
  get idle(): boolean {
    return !this.busy && this.pending.length === 0;
  }

  /** Queues a command of `size` frame bytes and starts running the queue if it is not already. */
  command(command: C, size: number): void {
    this.pending.push({ kind: 'command', command, size });
    this.backlog += size;
    if (!this.readPaused && this.backlog > this.maxBacklogBytes) {
      this.readPaused = true;
      this.host.pause();
    }
    if (!this.busy) void this.drain();
  }

  /** A bad frame: answered at once when nothing is waiting, else after the commands before it. */
  bad(error: E): void {
    if (this.idle) this.host.badFrame(error);
    else this.pending.push({ kind: 'bad', error });
  }

  /** A ready-made reply (and maybe a close): sent at once when nothing is waiting, else in its turn. */
  raw(frame: Buffer, close?: Disconnect): void {
    if (this.idle) this.host.sendRaw(frame, close);
    else this.pending.push({ kind: 'raw', frame, close });
  }

  private async drain(): Promise<void> {
    this.busy = true;
    try {
      while (this.pending.length > 0 && !this.host.isClosed()) {
        const next = this.pending.shift()!;
        if (next.kind === 'raw') this.host.sendRaw(next.frame, next.close);
        else if (next.kind === 'bad') this.host.badFrame(next.error);
        else {
          this.release(next.size);
          await this.host.run(next.command);
        }
      }
    } finally {
      this.busy = false;
    }
  }

  private release(n: number): void {
    this.backlog -= n;
    if (this.readPaused && this.backlog <= this.maxBacklogBytes / 2) {
      this.readPaused = false;
      this.host.resume();
    }
  }
}
