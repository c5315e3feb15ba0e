/**
 * The webhook queue of nodes on the Redis broker: one Redis stream shared by every node (webhook-scripts.ts), so
 * events survive a node's death or restart. Each node appends in order, through a bounded local buffer that also
 * rides out a short Redis outage; one node at a time (holding a lock) reads the stream and delivers it, per URL from
 * that URL's stored cursor, so every URL gets the events in stream order and a new holder resumes where the last
 * one stopped (a batch in flight when it died comes again: at least once).
 *
 * Occupancy across nodes: this node's first local subscriber `enter`s the channel (its id joins the channel's set,
 * and a lease), its last one `leave`s it; the script queues `channel_occupied` when the set gains its first node and
 * `channel_vacated` when it loses its last, atomically with the change. Leases are renewed every third of
 * `redis.presenceTtl`; a node that dies stops renewing, and any live node's sweep removes its expired leases and
 * vacates the channels it was the last in.
 */
import { createHash } from 'node:crypto';
import { createClient } from 'redis';
import { withDeadline } from '../broker/deadline.js';
import type { Counters } from '../observability/counters.js';
import type { Logger } from '../observability/logger.js';
import { DroppedEvents } from './dropped.js';
import type { QueuedBatch, QueueOp, WebhookQueue } from './queue.js';
import { Wakeup } from './wakeup.js';
import { ACK_SCRIPT, APPEND_SCRIPT, RELEASE_SCRIPT, RENEW_LEASES_SCRIPT, RENEW_SCRIPT, SWEEP_SCRIPT } from './webhook-scripts.js';

export interface RedisWebhookQueueOptions {
  readonly url: string;
  /** `redis.prefix`: keys are `<prefix>:wh:...`. */
  readonly prefix: string;
  readonly nodeId: string;
  readonly targets: readonly string[];
  /** webhooks.maxQueue: the stream's cap, and this node's buffer of ops not yet written. */
  readonly maxQueue: number;
  /** webhooks.lockTtl, ms. */
  readonly lockTtlMs: number;
  /** redis.presenceTtl, ms: a dead node's occupancy leases expire after this. */
  readonly leaseTtlMs: number;
  /** redis.commandTimeout, ms: deadline of every call. */
  readonly commandTimeoutMs: number;
  readonly counters: Counters;
  readonly logger: Logger;
}

/** Ops written per script call. */
const APPEND_BATCH = 200;
/** Leases renewed per call. */
const RENEW_BATCH = 500;
/** Expired leases swept per call. */
const SWEEP_BATCH = 100;
/** While idle, the delivering node reads the stream this often (ms): other nodes' events arrive there. */
const POLL_MS = 200;
/** A failed append is tried again after this long (ms). */
const APPEND_RETRY_MS = 500;
/** close() waits at most this long (ms) for the pending ops to be written. */
const CLOSE_FLUSH_MS = 3000;

function makeClient(url: string) {
  return createClient({
    url,
    // Commands while disconnected fail at once: the pending buffer keeps the ops and retries.
    disableOfflineQueue: true,
    socket: { reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 2000), connectTimeout: 5000 },
  });
}

export class RedisWebhookQueue implements WebhookQueue {
  private readonly client: ReturnType<typeof makeClient>;
  private readonly keys: { events: string; leases: string; lock: string; occ: string };
  /** Ops not yet written to Redis, in order. */
  private pending: QueueOp[] = [];
  private appending = false;
  /** The lease renewal is due (set every third of redis.presenceTtl, done by the append loop). */
  private renewDue = false;
  private appendTimer: NodeJS.Timeout | undefined;
  /** Channels this node has entered (kept to renew their leases). */
  private readonly local = new Set<string>();
  /** The lock is ours until this time (ms); 0: not ours. */
  private lockedUntil = 0;
  /** Stream id each URL acknowledged, loaded when this node takes the lock. */
  private cursors: Map<string, string> | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private streamLength = 0;
  /** Scripts that build event ids in Redis; their ids are `<node>-r<n>-<i>` (renewal) or `<node>-s<n>-<i>` (sweep). */
  private idRuns = 0;
  private closed = false;
  private redisDown = false;
  private readonly dropped: DroppedEvents;
  private readonly wakeup = new Wakeup(POLL_MS);

  constructor(private readonly o: RedisWebhookQueueOptions) {
    this.client = makeClient(o.url);
    this.client.on('error', (err: unknown) => {
      if (this.redisDown || this.closed) return;
      this.redisDown = true;
      o.logger.warn({ err }, 'webhooks: Redis connection lost, reconnecting (events wait in this process meanwhile)');
    });
    this.client.on('ready', () => {
      if (this.redisDown) o.logger.warn('webhooks: Redis connection restored');
      this.redisDown = false;
    });
    const p = `${o.prefix}:wh:`;
    this.keys = { events: p + 'events', leases: p + 'leases', lock: p + 'lock', occ: p + 'occ:' };
    this.dropped = new DroppedEvents(o.counters, o.logger, 'redis');
  }

  async start(): Promise<void> {
    await this.call(this.client.connect());
    const third = (ms: number) => Math.max(50, Math.floor(ms / 3));
    this.every(third(this.o.lockTtlMs), () => this.tickLock());
    this.every(third(this.o.leaseTtlMs), () => {
      this.renewDue = true;
      this.kick();
      void this.sweep();
    });
    await this.tickLock();
  }

  private every(ms: number, fn: () => unknown): void {
    const t = setInterval(fn, ms);
    t.unref();
    this.timers.push(t);
  }

  private call<T>(p: Promise<T>): Promise<T> {
    return withDeadline(p, this.o.commandTimeoutMs, () => new Error(`webhooks: no reply from Redis within ${this.o.commandTimeoutMs} ms (redis.commandTimeout)`));
  }

  private script(source: string, keys: string[], args: string[]): Promise<unknown> {
    return this.call(this.client.eval(source, { keys, arguments: args }));
  }

  // --- Appending --------------------------------------------------------------------------------------------------

  push(op: QueueOp): void {
    if (this.closed) return;
    if (op.kind === 'enter') this.local.add(op.channel!);
    else if (op.kind === 'leave') this.local.delete(op.channel!);
    if (this.pending.length >= this.o.maxQueue) {
      // Only events are lost. A dropped enter or leave heals itself: the lease renewal enters a channel that is still
      // local, and a channel no longer renewed is vacated by the sweep once its lease expires.
      if (op.kind === 'event') this.dropped.add(1, this.o.maxQueue);
      return;
    }
    if (op.kind === 'event') this.o.counters.webhookEvents++;
    this.pending.push(op);
    this.o.counters.webhookQueueDepth = this.depth();
    this.kick();
  }

  private kick(): void {
    if (!this.appending && this.appendTimer === undefined && !this.closed) this.appendTimer = setTimeout(this.append, 0);
  }

  /**
   * Writes the pending ops in order, a batch per script call, one call at a time; retries a failed batch. The lease
   * renewal runs here too, between batches: one writer, so a `leave` queued after the renewal read the local
   * channels is written after it (a renewal can never re-occupy a channel this node just left).
   */
  private readonly append = async (): Promise<void> => {
    this.appendTimer = undefined;
    if (this.appending) return;
    this.appending = true;
    try {
      while (this.pending.length > 0 || this.renewDue) {
        if (this.renewDue) {
          await this.renewLeases();
          this.renewDue = false;
          continue;
        }
        const batch = this.pending.slice(0, APPEND_BATCH);
        const args = [String(this.o.maxQueue), this.o.nodeId, String(this.o.leaseTtlMs), this.keys.occ];
        for (const op of batch) args.push(op.kind, op.channel ?? '', op.json);
        const [dropped, length] = (await this.script(APPEND_SCRIPT, [this.keys.events, this.keys.leases], args)) as [number, number];
        // A call that failed after Redis ran it is retried: its events are written twice (same ids; receivers drop
        // repeats) and its enters and leaves change nothing the second time.
        this.pending.splice(0, batch.length);
        this.streamLength = length;
        this.o.counters.webhookQueueDepth = this.depth();
        this.dropped.add(dropped, this.o.maxQueue);
        this.wake();
      }
    } catch (err) {
      if (!this.redisDown) this.o.logger.warn({ err, pending: this.pending.length }, 'webhooks: writing events to Redis failed; retrying');
      if (!this.closed) this.appendTimer = setTimeout(this.append, APPEND_RETRY_MS);
    } finally {
      this.appending = false;
    }
  };

  /**
   * Renews the lease of every local channel, and re-occupies one a sweep took during an outage. Not through the
   * pending buffer, so many channels cannot crowd events out of it. A channel whose `enter` is still pending may be
   * occupied here first; its `enter` then changes nothing (no second event). Throws when Redis fails (retried).
   */
  private async renewLeases(): Promise<void> {
    const channels = [...this.local];
    for (let i = 0; i < channels.length; i += RENEW_BATCH) {
      const base = `${this.o.nodeId}-r${++this.idRuns}`;
      await this.script(RENEW_LEASES_SCRIPT, [this.keys.events, this.keys.leases],
        [String(this.o.maxQueue), this.o.nodeId, String(this.o.leaseTtlMs), this.keys.occ, base, ...channels.slice(i, i + RENEW_BATCH)]);
    }
  }

  private async sweep(): Promise<void> {
    try {
      const base = `${this.o.nodeId}-s${++this.idRuns}`;
      await this.script(SWEEP_SCRIPT, [this.keys.events, this.keys.leases],
        ['', String(SWEEP_BATCH), this.keys.occ, base, String(this.o.maxQueue)]);
    } catch (err) {
      if (!this.redisDown) this.o.logger.warn({ err }, 'webhooks: sweeping expired occupancy leases failed');
    }
  }

  // --- Delivering -------------------------------------------------------------------------------------------------

  private async tickLock(): Promise<void> {
    if (this.closed) return;
    const { lock } = this.keys;
    const ttl = this.o.lockTtlMs;
    const asked = Date.now();
    try {
      if (this.lockedUntil > 0) {
        if ((await this.script(RENEW_SCRIPT, [lock], [this.o.nodeId, String(ttl)])) === 1) this.lockedUntil = asked + ttl;
        else this.lose('another node holds the delivery lock');
      } else if ((await this.call(this.client.set(lock, this.o.nodeId, { NX: true, PX: ttl }))) === 'OK') {
        this.lockedUntil = asked + ttl;
        this.cursors = undefined;
        this.o.logger.info({ event: 'webhooks_delivering' }, 'webhooks: this node delivers the queue');
        this.wake();
      }
    } catch (err) {
      if (!this.redisDown) this.o.logger.warn({ err }, 'webhooks: renewing the delivery lock failed');
    }
  }

  private lose(why: string): void {
    this.lockedUntil = 0;
    this.cursors = undefined;
    this.o.logger.warn({ event: 'webhooks_not_delivering' }, `webhooks: stopped delivering: ${why}`);
  }

  mayDeliver(): boolean {
    // A margin of a tenth of the ttl: stop before another node could take over.
    return this.lockedUntil - this.o.lockTtlMs / 10 > Date.now();
  }

  private cursorKey(target: string): string {
    return `${this.o.prefix}:wh:cursor:${createHash('sha256').update(target).digest('hex').slice(0, 16)}`;
  }

  private async loadCursors(): Promise<Map<string, string>> {
    if (this.cursors) return this.cursors;
    const values = await this.call(this.client.mGet(this.o.targets.map((t) => this.cursorKey(t))));
    const m = new Map<string, string>();
    this.o.targets.forEach((t, i) => m.set(t, values[i] ?? '0-0'));
    return (this.cursors = m);
  }

  async read(target: string, limit: number): Promise<QueuedBatch | undefined> {
    if (!this.mayDeliver()) return undefined;
    const cursor = (await this.loadCursors()).get(target) ?? '0-0';
    const entries = await this.call(this.client.xRange(this.keys.events, cursor === '0-0' ? '-' : `(${cursor}`, '+', { COUNT: limit }));
    if (!entries || entries.length === 0) return undefined;
    return { events: entries.map((e) => e.message.e ?? '{}'), cursor: entries[entries.length - 1]!.id };
  }

  async ack(target: string, cursor: string): Promise<void> {
    const cursors = await this.loadCursors();
    cursors.set(target, cursor);
    // Trim what every URL has: below the smallest cursor (a URL that never acknowledged holds everything).
    let min: string | undefined;
    for (const c of cursors.values()) if (min === undefined || compareIds(c, min) < 0) min = c;
    const trim = min === undefined || min === '0-0' ? '' : min;
    const ok = await this.script(ACK_SCRIPT, [this.keys.lock, this.cursorKey(target), this.keys.events], [this.o.nodeId, cursor, trim]);
    if (ok !== 1) {
      this.lose('the delivery lock expired (another node resumes from the last stored cursor)');
      return;
    }
    this.streamLength = Number(await this.call(this.client.xLen(this.keys.events)));
    this.o.counters.webhookQueueDepth = this.depth();
  }

  waitForEvents(): Promise<void> {
    return this.wakeup.wait();
  }

  private wake(): void {
    this.wakeup.wakeAll();
  }

  depth(): number {
    return this.streamLength + this.pending.length;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Last writes first: what the node queued while draining (leaves, disconnects) must reach the stream.
    const deadline = Date.now() + CLOSE_FLUSH_MS;
    while ((this.pending.length > 0 || this.appending) && Date.now() < deadline) {
      if (!this.appending && this.appendTimer === undefined) void this.append();
      await new Promise((r) => setTimeout(r, 20));
    }
    if (this.pending.length > 0) this.o.logger.error({ pending: this.pending.length }, 'webhooks: events not written to Redis before shutdown are lost');
    this.closed = true;
    clearTimeout(this.appendTimer);
    for (const t of this.timers) clearInterval(t);
    this.wake();
    if (this.lockedUntil > 0) await this.script(RELEASE_SCRIPT, [this.keys.lock], [this.o.nodeId]).catch(() => undefined);
    this.lockedUntil = 0;
    this.client.destroy();
  }
}

/** Orders stream ids `<ms>-<seq>`. */
function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(Number) as [number, number];
  const [bm, bs] = b.split('-').map(Number) as [number, number];
  return am - bm || as - bs;
}
