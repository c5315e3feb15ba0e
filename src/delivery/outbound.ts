import type { FlushScheduler, Flushable } from './flush.js';

/** Told once the bytes queued before it are written, or dropped with the connection (the hub's WriteWatch). */
export interface WriteWatch {
  written(): void;
  dropped(): void;
}

/** Where flushed messages and bytes are counted: one object per transport, shared by its connections, read by the metrics exporter. */
export interface SendTally {
  messages: number;
  bytes: number;
}

/** Where an outbound queue writes: a socket or an HTTP response, already framed bytes. */
export interface ByteSink {
  /**
   * Writes; false when the sink now buffers past its high-water mark (16 KiB for sockets), as `stream.write` says.
   * True therefore means fewer than that many bytes wait in the sink.
   */
  write(buf: Buffer): boolean;
  /** Bytes accepted by write() but not yet handed to the kernel. */
  readonly writableLength: number;
  /** Resolves once the unsent bytes were handed to the kernel, or the connection closed. */
  waitDrain(): Promise<void>;
}

/**
 * A connection's byte-bounded outbound queue. Messages are appended as shared, already-encoded buffers; the
 * scheduler flushes the queue once per round as one write. When queued plus unsent bytes would pass `maxBytes`
 * the queue refuses (the session then disconnects the client as slow) so a reader that stalls cannot grow memory.
 */
export class OutboundQueue implements Flushable {
  /**
   * The queued messages: the first in `head`, any more in `rest` (made on the first second message, then kept).
   * At moderate load a round carries one message per connection, and an array per connection per round was most of
   * the server's own allocation per delivery (2,000 subscribers at 20/s: 59 of 193 MB allocated in a run were the
   * arrays' backing stores, grown on their first push; issue #15) — twice the scavenges of the bare baseline.
   */
  private head: Buffer | null = null;
  private rest: Buffer[] | null = null;
  private count = 0;
  private bytes = 0;
  private marked = false;
  private closed = false;
  /**
   * The sink's unsent bytes as of the last flush: 0 when that write was accepted under the high-water mark (so at
   * most 16 KiB are undercounted), else the exact figure. Reading `writableLength` on every push cost ~7 % of the
   * server's CPU at moderate load; the exact figure is read again whenever this estimate says the queue is full.
   */
  private sinkPending = 0;
  /** Sampled deliveries' watches (their write spans), told when the bytes queued before them are written. */
  private watches: WriteWatch[] | null = null;

  constructor(
    private readonly sink: ByteSink,
    private readonly scheduler: FlushScheduler,
    private readonly maxBytes: number,
    private readonly tally: SendTally,
  ) {}

  /** Tells `watch` when the bytes queued so far are written (or dropped, if the queue closed first). */
  watchWrite(watch: WriteWatch): void {
    if (this.closed) return watch.dropped();
    (this.watches ??= []).push(watch);
  }

  /** Queues bytes; false when the bound would be passed (nothing queued then). */
  push(buf: Buffer): boolean {
    if (this.closed) return true;
    if (!this.hasRoom(buf.length)) return false;
    if (this.count === 0) this.head = buf;
    else (this.rest ??= []).push(buf);
    this.count++;
    this.bytes += buf.length;
    if (!this.marked) {
      this.marked = true;
      this.scheduler.mark(this);
    }
    return true;
  }

  /**
   * Whether `n` more bytes fit under the bound. An empty queue takes one message of any size, so a message
   * larger than the bound is still delivered to a client that keeps up.
   */
  hasRoom(n: number): boolean {
    let pending = this.bytes + this.sinkPending;
    if (pending === 0 || pending + n <= this.maxBytes) return true;
    // The socket may have drained since the last flush: look again before refusing.
    this.sinkPending = this.sink.writableLength;
    pending = this.bytes + this.sinkPending;
    return pending === 0 || pending + n <= this.maxBytes;
  }

  get queuedBytes(): number {
    return this.bytes;
  }

  flush(): void {
    this.marked = false;
    if (this.closed || this.count === 0) return;
    const n = this.count;
    const bytes = this.bytes;
    const buf = n === 1 ? this.head! : this.joined();
    this.head = null;
    this.count = 0;
    this.bytes = 0;
    this.sinkPending = this.sink.write(buf) ? 0 : this.sink.writableLength;
    this.scheduler.messages += n;
    const t = this.tally;
    t.messages += n;
    t.bytes += bytes;
    if (this.watches !== null) {
      for (const w of this.watches) w.written();
      this.watches = null;
    }
  }

  /** The queued messages as one buffer (two or more of them); empties `rest`, which stays for the next time. */
  private joined(): Buffer {
    const rest = this.rest!;
    const buf = Buffer.allocUnsafe(this.bytes);
    let at = this.head!.copy(buf, 0);
    for (let i = 0; i < rest.length; i++) at += rest[i]!.copy(buf, at);
    rest.length = 0;
    return buf;
  }

  /** Drops queued bytes and refuses further ones (after a disconnect). */
  close(): void {
    this.closed = true;
    this.head = null;
    this.rest = null;
    this.count = 0;
    this.bytes = 0;
    if (this.watches !== null) {
      for (const w of this.watches) w.dropped();
      this.watches = null;
    }
  }
}
