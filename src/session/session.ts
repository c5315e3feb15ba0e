import type { Identity } from '../auth/identity.js';
import { inc } from '../observability/counters.js';
import type { Logger } from '../observability/logger.js';
import { newConnectionId } from '../core/ids.js';
import type { TraceContext } from '../core/trace-context.js';
import { EncodedPublication } from '../delivery/encoded.js';
import type { ConnectionView, Subscriber, WriteWatch } from '../hub/hub.js';
import {
  caughtUpJson,
  skipJson,
  unsubscribedJson,
  Disconnects,
  ErrorCode,
  NO_STREAM_EPOCH,
  ReplyError,
  type Disconnect,
  type Member,
  type StreamPosition,
  type SubscribeResult,
} from '../protocol/index.js';
import { OutboundQueue, type ByteSink, type SendTally } from '../delivery/outbound.js';
import type { NodeServices } from './services.js';
import { Subscription, type SubscriptionOwner } from './subscription.js';
import type { TracedConnection } from './connection-telemetry.js';
import { checkSubscribe, type SubscribeRight } from './permissions.js';
import type { ServerPublication } from '../protocol/index.js';
import { firstSnapshotPage, type KeyedCatchUp } from './keyed.js';

/** Where a connection comes from, for logs and spans. */
export interface ConnectionInfo {
  /** Remote address of the client. */
  readonly ip: string;
  /** The endpoint path (`/ws`, `/events`). */
  readonly route: string;
  /** The connection's upgrade/connect span, when tracing. */
  readonly traceContext?: TraceContext;
  /** The connection id an endpoint chose for it (Pusher's `socket_id`); default a fresh native id (core/ids.ts). */
  readonly id?: string;
}

export interface PreparedSubscription {
  readonly sub: Subscription;
  readonly result: SubscribeResult;
  readonly replay: ServerPublication[];
  /** Keyed channels: a snapshot to stream instead of a replay. */
  readonly catchUp?: KeyedCatchUp;
}

/** Bytes of slack when waiting for queue room: a multi-channel SSE frame is rebuilt with a longer id after the wait. */
const REFRAME_SLACK = 32;

type Counters = NodeServices['counters'];
/** One send tally per node (its counters) and transport, shared by its connections' queues (not one per connection). */
const tallies = new WeakMap<Counters, Map<string, SendTally>>();

function tallyOf(c: Counters, transport: string): SendTally {
  let byTransport = tallies.get(c);
  if (!byTransport) tallies.set(c, (byTransport = new Map()));
  let t = byTransport.get(transport);
  if (!t) byTransport.set(transport, (t = { messages: c.messagesSent, bytes: c.bytesSent, key: transport }));
  return t;
}

/** `expires` (Unix seconds) of a subscription a subscription token allowed, for its subscribe reply. */
function expiresOf(sub: Subscription): { expires?: number } {
  return sub.expiresAt === undefined ? {} : { expires: Math.floor(sub.expiresAt / 1000) };
}

/** The subscribe proxy's `data` for a subscribe reply, when it gave some. */
function dataOf(right: SubscribeRight): { data?: unknown } {
  return right.data === undefined ? {} : { data: right.data };
}

/**
 * The transport-independent part of a connection: identity, subscriptions with gap-free resume, and the bounded
 * outbound queue. WebSocket and SSE sessions differ in how bytes are framed and in what the client may send.
 */
export abstract class Session implements Subscriber, SubscriptionOwner, TracedConnection {
  readonly id: string;
  /** Set once; changed only through NodeServices.changeUser (a Pusher sign-in), which keeps the hub's index true. */
  userId: string;
  readonly info: unknown;
  /** Who this connection is; replaced when a WebSocket refreshes its token. */
  identity: Identity;
  readonly connectedAt = Date.now();
  readonly subscriptions = new Map<string, Subscription>();
  protected readonly queue: OutboundQueue;
  private nextIndex = 0;
  closed = false;
  /** How the connection ended: the code and reason the server sent, or what the client's close said. */
  private closeCode: number | undefined;
  private closeReason = '';
  private logger: Logger | undefined;
  /** Limits already logged for this connection (each is logged once). */
  loggedLimits: Set<string> | undefined;
  /** Live publications buffered during one subscription's setup, at most. */
  readonly maxPendingPublications: number;

  constructor(
    protected readonly node: NodeServices,
    identity: Identity,
    private readonly sink: ByteSink,
    /** `websocket` or `sse`. */
    readonly transport: string,
    readonly conn: ConnectionInfo,
  ) {
    this.id = conn.id ?? newConnectionId();
    this.identity = identity;
    this.userId = identity.userId;
    this.info = identity.info;
    const c = node.counters;
    this.queue = new OutboundQueue(sink, node.scheduler, node.config.client.queueMaxBytes, tallyOf(c, transport));
    this.maxPendingPublications = Math.max(1000, node.config.history.size);
    inc(c.connects, transport);
  }

  /** This connection's logger: every line carries conn_id, user_id, client_ip, transport and route. Made on first use. */
  get log(): Logger {
    return (this.logger ??= this.node.logger.child({
      conn_id: this.id,
      user_id: this.userId,
      client_ip: this.conn.ip,
      transport: this.transport,
      route: this.conn.route,
    }));
  }

  /**
   * An info line on this connection's logger (connect, disconnect): when info lines are off, nothing is made — the
   * child logger costs a connection about 1 KiB and its bindings' serialization, for lines that would not be written.
   */
  logInfo(obj: object, msg: string): void {
    if (this.logger !== undefined || this.node.logger.isLevelEnabled('info')) this.log.info(obj, msg);
  }

  /** The connection's handshake span, for the spans it causes (children or links), when tracing. */
  get traceContext(): TraceContext | undefined {
    return this.conn.traceContext;
  }

  watchWrite(watch: WriteWatch): void {
    this.queue.watchWrite(watch);
  }

  view(): ConnectionView {
    return { client: this.id, user: this.userId, transport: this.transport, ip: this.conn.ip, since: this.connectedAt, channels: [...this.subscriptions.keys()] };
  }

  /** Frames a publication for this transport. */
  protected abstract framePublication(enc: EncodedPublication, sub: Subscription): Buffer;
  /** Frames a push that is not a channel publication (direct message, join/leave), with its SSE event name. */
  protected abstract framePush(event: string, json: string): Buffer;
  /** Closes the transport (after writing what is queued). */
  protected abstract closeTransport(d: Disconnect): void;

  get member(): Member {
    return this.info === undefined ? { user: this.userId, client: this.id } : { user: this.userId, client: this.id, info: this.info };
  }

  /** Who this connection is in one channel's presence: itself, unless a dialect names a member per channel (Pusher's `channel_data`). */
  protected memberOf(_channel: string): Member {
    return this.member;
  }

  /** Queues bytes; a full queue disconnects the client as slow. */
  protected send(buf: Buffer): void {
    if (this.queue.push(buf)) return;
    this.node.counters.drops++;
    this.disconnect(Disconnects.Slow);
  }

  sendPublication(enc: EncodedPublication, sub: Subscription): void {
    this.send(this.framePublication(enc, sub));
  }

  /** A publication `sub` was excluded from, as a `skip` push (built for this one recipient: frames.ts skipJson). */
  sendSkip(enc: EncodedPublication, sub: Subscription): void {
    this.send(this.frameSkip(enc, sub));
  }

  /** Frames a `skip` push; SSE overrides it to give the event the position as its id. */
  protected frameSkip(enc: EncodedPublication, _sub: Subscription): Buffer {
    return this.framePush('skip', skipJson(enc.pub));
  }

  /** The end of `sub`'s catch-up, at its position: the next publication it delivers is the one after (frames.ts). */
  sendCaughtUp(sub: Subscription): void {
    this.send(this.framePush('caught_up', caughtUpJson(sub.channel, sub.epoch, sub.offset)));
  }

  deliverDirect(event: string, json: string): void {
    this.send(this.framePush(event, json));
  }

  deliverMemberEvent(channel: string, event: string, json: string): void {
    // Only channels this connection has fully joined: a member event must not overtake the subscribe reply.
    if (this.subscriptions.get(channel)?.live) this.send(this.framePush(event, json));
  }

  onGap(sub: Subscription): void {
    this.log.warn({ event: 'publication_gap', channel: sub.channel }, 'publication gap in live stream; disconnecting so the client resumes');
    this.disconnect(Disconnects.InsufficientState);
  }

  onSetupOverflow(sub: Subscription): void {
    this.log.warn({ event: 'setup_overflow', channel: sub.channel }, 'too many publications during subscription setup');
    this.disconnect(Disconnects.Slow);
  }

  /**
   * First half of a subscribe with optional resume: registers the subscription (live publications are buffered
   * from this moment), waits for the node's broker subscription, reads history and decides whether the resume is
   * gap-free. The subscription's position is set to what the client has: `since` when resumed, else the stream top.
   */
  protected async prepareSubscription(
    channel: string,
    since: StreamPosition | undefined,
    token?: string,
    snapshot?: boolean,
    /** The command's span (else the connection's), whose trace context a backend proxy call carries. */
    trace: TraceContext | undefined = this.traceContext,
    /** The client's custom data (JSON text) for the subscribe proxy. */
    data?: string,
  ): Promise<PreparedSubscription> {
    const cfg = this.node.config;
    if (this.subscriptions.has(channel)) throw new ReplyError(ErrorCode.AlreadySubscribed, `already subscribed to ${channel}`);
    if (this.subscriptions.size >= cfg.client.maxSubscriptions) {
      this.node.limitHit('subscriptions', this);
      throw new ReplyError(ErrorCode.LimitExceeded, `at most ${cfg.client.maxSubscriptions} subscriptions per connection (client.maxSubscriptions)`);
    }
    const right = await checkSubscribe(this.node, this, channel, token, trace, data);
    const { rules } = right;
    if (this.subscriptions.has(channel)) throw new ReplyError(ErrorCode.AlreadySubscribed, `already subscribed to ${channel}`);
    if (rules.maxSubscribers > 0 && this.node.subscriberCount(channel) >= rules.maxSubscribers) {
      this.node.limitHit('channel_subscribers', this);
      throw new ReplyError(ErrorCode.LimitExceeded, `channel "${channel}" has its most subscribers (maxSubscribers of its namespace)`);
    }
    const sub = new Subscription(this, channel, this.nextIndex++, rules);
    sub.grantedBy = right.by;
    if (right.expiresAt !== undefined) {
      sub.expiresAt = right.expiresAt;
      this.node.watchExpiry(this);
    }
    this.subscriptions.set(channel, sub);
    try {
      await this.node.joinChannel(channel, sub);
      // `open`: a subscriber's read creates the stream (its epoch), which the node subscription then keeps.
      const h = await this.node.history(channel, since ? { since, open: true } : { limit: 0, open: true });
      const top = h.top;
      let reason: string | undefined;
      if (since) {
        // A position read before the channel had a stream (`none:0`) missed nothing while it still has no publication.
        if (since.epoch !== top.epoch && !(since.epoch === NO_STREAM_EPOCH && since.offset === 0 && top.offset === 0)) reason = 'epoch_changed';
        else if (since.offset > top.offset) reason = 'future_position';
        else if (since.offset + 1 < h.earliest) reason = 'too_old';
      }
      // Keyed channels: a snapshot when history cannot serve the position, or for a newcomer (unless it declined).
      if (rules.keyed && (reason !== undefined || (since === undefined && snapshot !== false))) {
        return await this.prepareSnapshot(sub, since, reason, right);
      }
      const recovered = since !== undefined && reason === undefined;
      if (since !== undefined) this.countRecovery(channel, since, recovered, reason, h.publications.length);
      const replay = recovered ? h.publications : [];
      sub.epoch = top.epoch;
      sub.offset = recovered ? since.offset : top.offset;
      const result: SubscribeResult = { channel, epoch: top.epoch, offset: top.offset, recovered, ...(reason ? { reason } : {}), missed: replay.length, ...expiresOf(sub), ...dataOf(right) };
      return { sub, result, replay };
    } catch (err) {
      if (this.subscriptions.get(channel) === sub) this.dropSubscription(sub, false);
      throw err;
    }
  }

  /** The subscribe result of a keyed catch-up by snapshot: `delta` recovers the client's state, `full` resets it. */
  private async prepareSnapshot(sub: Subscription, since: StreamPosition | undefined, reason: string | undefined, right: SubscribeRight): Promise<PreparedSubscription> {
    sub.restartable = true;
    const catchUp = await firstSnapshotPage(this.node, sub.channel, since, () => sub.restarts);
    const { top } = catchUp.first;
    const recovered = catchUp.kind === 'delta';
    const why = recovered ? undefined : reason;
    if (since !== undefined) this.countRecovery(sub.channel, since, recovered, why ?? 'too_old', 0);
    sub.epoch = top.epoch;
    sub.offset = recovered ? since!.offset : 0;
    const result: SubscribeResult = {
      channel: sub.channel,
      epoch: top.epoch,
      offset: top.offset,
      recovered,
      ...(why ? { reason: why } : {}),
      missed: 0,
      snapshot: catchUp.kind,
      ...expiresOf(sub),
      ...dataOf(right),
    };
    return { sub, result, replay: [], catchUp };
  }

  private countRecovery(channel: string, since: StreamPosition, recovered: boolean, reason: string | undefined, missed: number): void {
    const counters = this.node.counters;
    if (recovered) counters.recoveriesSucceeded++;
    else {
      inc(counters.recoveriesFailed, reason!);
      this.log.info({ event: 'recovery_failed', channel, reason, since: `${since.epoch}:${since.offset}` }, 'resume not possible without a gap; client told');
    }
    this.node.connectionTelemetry.recovery(this, channel, recovered, missed, reason);
  }

  /** True when the prepared subscription is still this connection's (not unsubscribed or closed meanwhile). */
  protected isCurrent(p: PreparedSubscription): boolean {
    return !this.closed && this.subscriptions.get(p.sub.channel) === p.sub;
  }

  /**
   * Second half: queues the missed publications, then the ones buffered during setup that are newer, and from
   * then on delivers live. Presence and join events follow.
   */
  protected async activateSubscription(p: PreparedSubscription): Promise<void> {
    const { sub, result, replay, catchUp } = p;
    if (catchUp) {
      if (!(await this.streamSnapshot(p, catchUp))) return;
    } else {
      // Disconnected during the replay: cleanup is done, add no presence or join.
      for (const pub of replay) if (!(await this.sendPaced(p, pub))) return;
      if (!this.isCurrent(p)) return;
      sub.goLive(result.epoch, Math.max(sub.offset, result.offset));
    }
    if (sub.rules.presence) {
      await this.node.addPresence(sub.channel, this.memberOf(sub.channel));
      // Closed while presence was being added: cleanup's removal ran first, so undo the late add.
      if (!this.isCurrent(p)) {
        await this.node.removePresence(sub.channel, this.id);
        return;
      }
    }
    // Closed while presence was added: cleanup already announced the leave, so no join after it.
    if (sub.rules.joinLeave && this.isCurrent(p)) await this.node.publishJoin(sub.channel, this.memberOf(sub.channel));
  }

  /**
   * Queues one replayed or snapshot publication. A backlog larger than the queue bound is paced by the client's
   * reading speed instead of overflowing the queue (which would disconnect it as slow on every resume); live
   * publications stay buffered meanwhile. The subscription's position moves before framing, so a multi-channel SSE
   * id names this publication. False when the subscription ended meanwhile.
   */
  private async sendPaced(p: PreparedSubscription, pub: ServerPublication): Promise<boolean> {
    const enc = new EncodedPublication(pub);
    const { sub } = p;
    const size = this.framePublication(enc, sub).length + REFRAME_SLACK;
    while (!this.queue.hasRoom(size) && this.isCurrent(p)) {
      this.queue.flush();
      await this.sink.waitDrain();
    }
    if (!this.isCurrent(p)) return false;
    sub.epoch = pub.epoch;
    sub.offset = pub.offset;
    this.send(this.framePublication(enc, sub));
    return true;
  }

  /**
   * Queues a command's reply once the outbound queue has room for it (`client.queueMaxBytes`; an empty queue takes
   * any one reply), waiting for the client to read instead of disconnecting it: a client that asks faster than it
   * reads is slowed, as a replay is, and its later commands wait behind (they run in order). A client that never
   * reads holds at most the queue bound plus this one reply (`client.maxReplyBytes`). False when the connection
   * closed meanwhile (nothing was queued).
   */
  protected async sendWhenRoom(buf: Buffer): Promise<boolean> {
    while (!this.closed && !this.queue.hasRoom(buf.length)) {
      this.queue.flush();
      await this.sink.waitDrain();
    }
    if (this.closed) return false;
    this.send(buf);
    return true;
  }

  /**
   * Streams a keyed snapshot page by page (`keyed.pageSize` entries per broker read), each entry an ordinary
   * publication with its own offset, then goes live at the top of the last page read. A page shorter than the page
   * size holds the state up to its top; the setup buffer holds everything published since before that read (unless
   * it overflowed and restarted since, in which case one more page is read). True once live.
   */
  private async streamSnapshot(p: PreparedSubscription, c: KeyedCatchUp): Promise<boolean> {
    const { sub } = p;
    const limit = this.node.config.keyed.pageSize;
    let { first: page, after, restartsBefore } = c;
    for (;;) {
      for (const pub of page.publications) {
        if (!(await this.sendPaced(p, pub))) return false;
        after = pub.offset;
      }
      if (page.publications.length < limit && sub.restarts === restartsBefore) break;
      restartsBefore = sub.restarts;
      const complete = page.complete;
      page = await this.node.keyedState(sub.channel, { after, limit });
      if (!this.isCurrent(p)) return false;
      // The state was lost (e.g. Redis restarted empty), or a delete after the cursor was forgotten while the client
      // may hold the key from an earlier page: disconnect (4004) so it resumes and is told to reset.
      if (page.top.epoch !== sub.epoch || (page.complete !== complete && page.complete > after)) {
        this.onGap(sub);
        return false;
      }
    }
    sub.goLive(page.top.epoch, page.top.offset);
    return true;
  }

  /**
   * Ends a subscription the connection may no longer hold (its grant was taken away or its subscription token
   * expired): an `unsubscribed` push with the reason's code, then the subscription goes as if the client had left.
   */
  protected revoke(sub: Subscription, code: ErrorCode, message: string): void {
    if (this.subscriptions.get(sub.channel) !== sub) return;
    this.log.info({ event: 'subscription_revoked', channel: sub.channel, code }, message);
    this.send(this.framePush('unsubscribed', unsubscribedJson(sub.channel, code, message)));
    this.dropSubscription(sub, true);
  }

  /**
   * Called about once a second while something of this connection expires: the connection token (4005) and each
   * subscription token (the subscription ends with `token_expired`). False once nothing can expire any more.
   */
  expire(now: number): boolean {
    const at = this.identity.expiresAt;
    if (this.closed) return false;
    if (at !== undefined && at <= now) {
      this.disconnect(Disconnects.TokenExpired);
      return false;
    }
    let more = at !== undefined;
    for (const sub of [...this.subscriptions.values()]) {
      if (sub.expiresAt === undefined) continue;
      if (sub.expiresAt <= now) this.revoke(sub, ErrorCode.TokenExpired, `the subscription token for "${sub.channel}" expired; subscribe again with a fresh one`);
      else more = true;
    }
    return more;
  }

  protected unsubscribe(channel: string): void {
    const sub = this.subscriptions.get(channel);
    if (!sub) throw new ReplyError(ErrorCode.NotSubscribed, `not subscribed to ${channel}`);
    this.dropSubscription(sub, true);
  }

  private dropSubscription(sub: Subscription, announce: boolean): void {
    this.subscriptions.delete(sub.channel);
    this.node.leaveChannel(sub.channel, sub);
    if (!sub.live) return;
    const log = (err: unknown) => this.node.logger.warn({ err, channel: sub.channel }, 'presence cleanup failed');
    if (sub.rules.presence) this.node.removePresence(sub.channel, this.id).catch(log);
    if (announce && sub.rules.joinLeave) this.node.publishLeave(sub.channel, this.memberOf(sub.channel)).catch(log);
  }

  /** Ends the connection: writes what is queued, closes the transport, leaves every index. Idempotent. */
  disconnect(d: Disconnect): void {
    if (this.closed) return;
    this.closeCode = d.code;
    this.closeReason = d.reason;
    if (d === Disconnects.Slow) {
      this.node.counters.slowDisconnects++;
      this.log.warn({ event: 'slow_consumer', queue_max_bytes: this.node.config.client.queueMaxBytes }, 'client reads too slowly; disconnected');
    }
    this.closeTransport(d);
    this.cleanup();
  }

  /**
   * Called when the transport closed (by either side), with the client's close code when it closed first.
   * Idempotent.
   */
  cleanup(code = 1000, reason = ''): void {
    if (this.closed) return;
    this.closed = true;
    if (this.closeCode === undefined) {
      this.closeCode = code;
      this.closeReason = reason;
    }
    this.queue.close();
    for (const sub of [...this.subscriptions.values()]) this.dropSubscription(sub, true);
    // The node registered this connection when its transport accepted it (attach); it unregisters it here.
    this.node.detach(this);
    this.onClosed();
    this.recordClose();
  }

  private recordClose(): void {
    const code = this.closeCode!;
    const durationMs = Date.now() - this.connectedAt;
    inc(this.node.counters.disconnects, `${this.transport}|${code}`);
    this.logInfo({ event: 'disconnect', code, reason: this.closeReason, duration_ms: durationMs }, 'disconnected');
    this.node.connectionTelemetry.closed(this, code, this.closeReason, durationMs);
  }

  /** Hook for transports (timers). */
  protected onClosed(): void {}
}
