import type { Identity } from '../auth/identity.js';
import { brokerReplyError } from '../broker/broker.js';
import { inc } from '../observability/counters.js';
import type { TraceContext } from '../core/trace-context.js';
import { type EncodedPublication, wsTextFrameOf } from '../hub/encoded.js';
import {
  connectedJson,
  Disconnects,
  ErrorCode,
  errorJson,
  PROTOCOL_VERSION,
  ReplyError,
  resultJson,
  type CommandId,
  type Disconnect,
} from '../protocol/index.js';
import { DialectError, Dialects, publicationShape, type Decoded, type Dialect, type Step } from './dialects/index.js';
import type { ByteSink } from './outbound.js';
import type { NodeServices } from './services.js';
import type { CommandTrace } from './connection-telemetry.js';
import { Session, type ConnectionInfo } from './session.js';
import { TokenBucket } from '../core/token-bucket.js';
import { checkDirectMessage, checkPublish, checkPublishSize, checkRead, verifySubscriptionToken } from './permissions.js';
import { readHistoryPage } from '../broker/pages.js';
import { historyReplyEnvelope, historyReplyFrame } from './history-page.js';
import type { Subscription } from './subscription.js';

/** What the WebSocket transport gives its session. */
export interface WsTransport extends ByteSink {
  close(code: number, reason: string): void;
  /** Stops / restarts reading the connection's frames (TCP then pushes back on the client). */
  pause(): void;
  resume(): void;
}

/**
 * A WebSocket connection speaking the native JSON protocol (docs/protocol.md) and the seed vocabularies. Commands
 * are handled one at a time in arrival order, so replies and their side effects keep the client's order.
 */
/** A decoded command waiting its turn, or a bad frame whose error reply must keep its place in the order. */
type PendingCommand =
  | (Decoded & { size: number; error?: undefined; raw?: undefined })
  | { error: DialectError; raw?: undefined }
  | { raw: Buffer; close?: Disconnect; error?: undefined };

export class WsSession extends Session {
  private badFrames = 0;
  /** Commands refused for rate; the per-connection command bucket (undefined: no limit). */
  private refused = 0;
  /** Set once the connection is to be closed for flooding: its further frames are not read. */
  private flooded = false;
  private readonly commands: TokenBucket | undefined;
  private readonly pending: PendingCommand[] = [];
  private busy = false;
  /** Bytes of the command frames waiting in `pending`, and whether reading is paused for them (holdBacklog). */
  private backlog = 0;
  private readPaused = false;
  /** The vocabularies this connection may speak, each translated into native commands (src/session/dialects/). */
  private readonly dialects: Dialects;

  constructor(
    node: NodeServices,
    identity: Identity,
    private readonly ws: WsTransport,
    version: string,
    conn: ConnectionInfo,
  ) {
    super(node, identity, ws, 'websocket', conn);
    const cfg = node.config;
    this.dialects = new Dialects({
      userId: this.userId,
      seed000Channel: cfg.compat.seed000Channel,
      limits: { maxChannelLength: cfg.channel.maxLength, maxHistoryLimit: cfg.api.maxHistoryLimit, maxKeyLength: cfg.keyed.maxKeyLength },
    });
    const interval = node.config.websocket.pingInterval;
    const pingSeconds = interval > 0 ? Math.max(1, Math.round(interval / 1000)) : 0;
    const exp = identity.expiresAt;
    this.send(
      wsTextFrameOf(
        connectedJson({ client: this.id, user: this.userId, version, protocol: PROTOCOL_VERSION, ping: pingSeconds, ...(exp ? { expires: Math.floor(exp / 1000) } : {}) }),
      ),
    );
    const rate = node.config.limits.commandRate;
    this.commands = rate > 0 ? new TokenBucket(rate, rate * 2) : undefined;
    node.watchExpiry(this);
  }

  /**
   * Subscribes the channels the connection token grants (`channels` claim), each announced with a `subscribed`
   * push carrying what a subscribe reply would. Called by the transport once the connection is registered.
   */
  async autoSubscribe(): Promise<void> {
    for (const channel of this.identity.channels ?? []) {
      if (this.closed) return;
      try {
        const p = await this.prepareSubscription(channel, undefined);
        if (!this.isCurrent(p)) continue;
        this.send(wsTextFrameOf(JSON.stringify({ push: 'subscribed', ...p.result })));
        await this.activateSubscription(p);
      } catch (err) {
        const e = err instanceof ReplyError ? err : new ReplyError(ErrorCode.Internal, 'internal error');
        this.send(wsTextFrameOf(JSON.stringify({ push: 'subscribe_failed', channel, error: e.toJSON() })));
      }
    }
  }

  protected framePublication(enc: EncodedPublication, _sub: Subscription): Buffer {
    return publicationShape(enc, this.node.config.compat.seed000Channel).wsFrame();
  }

  protected framePush(_event: string, json: string): Buffer {
    return wsTextFrameOf(json);
  }

  protected closeTransport(d: Disconnect): void {
    if (d !== Disconnects.Slow) this.queue.flush();
    this.ws.close(d.code, d.reason);
  }

  /** A text frame (or a binary one, when allowed) from the client. */
  handleFrame(data: Buffer, isBinary: boolean): void {
    if (this.closed || this.flooded) return;
    const cfg = this.node.config.websocket;
    if (isBinary && !cfg.allowBinary) {
      return this.enqueueBad(new DialectError(ErrorCode.BinaryNotAllowed, 'binary frames are not accepted; send JSON text frames', null, this.dialects.native));
    }
    if (data.length > cfg.maxMessageSize) {
      return this.enqueueBad(new DialectError(ErrorCode.MessageTooLarge, `frame of ${data.length} bytes exceeds websocket.maxMessageSize (${cfg.maxMessageSize})`, null, this.dialects.native));
    }
    if (this.commands && !this.commands.take()) return this.rateLimited();
    let decoded: Decoded;
    try {
      decoded = this.dialects.decode(data.toString('utf8'));
    } catch (err) {
      return this.enqueueBad(err instanceof DialectError ? err : new DialectError(ErrorCode.InvalidJson, 'frame could not be decoded', null, this.dialects.native));
    }
    // `ping` needs no broker: it is answered at once, not behind a command still waiting for the broker (a frozen
    // Redis must not make a connection look dead). Replies are matched by id, so this one may overtake theirs.
    if (decoded.dialect === this.dialects.native && decoded.steps[0]?.command.method === 'ping') return void this.run({ ...decoded, size: data.length });
    this.pending.push({ ...decoded, size: data.length });
    this.holdBacklog(data.length);
    if (!this.busy) void this.drain();
  }

  /**
   * Commands wait in `pending` while an earlier one runs, and one may wait long: a reply waiting for the client to
   * read (sendWhenRoom), a paced replay. Past `client.queueMaxBytes` of waiting frames the connection is not read
   * until half of them ran, so a client that stops reading cannot pile commands up in memory meanwhile (one that
   * kept sending 400 KB publishes held ~170 MB until the write timeout closed it).
   */
  private holdBacklog(n: number): void {
    this.backlog += n;
    if (!this.readPaused && this.backlog > this.node.config.client.queueMaxBytes) {
      this.readPaused = true;
      this.ws.pause();
    }
  }

  private releaseBacklog(n: number): void {
    this.backlog -= n;
    if (this.readPaused && this.backlog <= this.node.config.client.queueMaxBytes / 2) {
      this.readPaused = false;
      this.ws.resume();
    }
  }

  /** A bad frame is answered at once when nothing is waiting, else after the commands before it (replies keep order). */
  private enqueueBad(err: DialectError): void {
    if (!this.busy && this.pending.length === 0) return this.badFrame(err);
    this.pending.push({ error: err });
  }

  /**
   * Over `limits.commandRate`: the command is refused with `too_many_requests` (the reply costs the server little);
   * a client that keeps going past `limits.commandRejectLimit` refusals is closed with 4006.
   */
  private rateLimited(): void {
    this.node.limitHit('command_rate', this, { rate: this.node.config.limits.commandRate });
    const reply = wsTextFrameOf(errorJson(null, { code: ErrorCode.TooManyRequests, message: `more than ${this.node.config.limits.commandRate} commands per second (limits.commandRate)` }));
    // Past the limit of refusals the connection is closed, after the replies already owed; frames after that are ignored.
    const close = ++this.refused >= this.node.config.limits.commandRejectLimit ? Disconnects.RateLimited : undefined;
    if (close) this.flooded = true;
    // Behind earlier commands still running, like every other reply.
    if (this.busy || this.pending.length > 0) {
      this.pending.push({ raw: reply, close });
    } else {
      this.send(reply);
      if (close) this.disconnect(close);
    }
  }

  private badFrame(err: DialectError): void {
    inc(this.node.counters.commands, `invalid|${err.code}`);
    this.node.connectionTelemetry.badFrame(this, err.code);
    this.replyError(err.id, err, err.dialect);
    if (++this.badFrames >= this.node.config.websocket.maxBadFrames) {
      this.log.info({ event: 'bad_protocol', bad_frames: this.badFrames }, 'too many bad frames; closing');
      this.disconnect(Disconnects.BadProtocol);
    }
  }

  private async drain(): Promise<void> {
    this.busy = true;
    try {
      while (this.pending.length > 0 && !this.closed) {
        const next = this.pending.shift()!;
        if ('size' in next) this.releaseBacklog(next.size);
        if (next.raw) {
          this.send(next.raw);
          if (next.close) this.disconnect(next.close);
          continue;
        }
        if (next.error) {
          this.badFrame(next.error);
          continue;
        }
        await this.run(next);
      }
    } finally {
      this.busy = false;
    }
  }

  /**
   * One decoded frame: native steps (src/session/dialects/), each checked and run like the native command it is,
   * under one `websocket.handle_message` span; counted per native method and outcome.
   */
  private async run(next: Decoded & { size: number }): Promise<void> {
    const { dialect, size, steps } = next;
    const counters = this.node.counters;
    // Every translation has at least one step; the last is the one the frame is about (seed 000's join comes first).
    const main = steps[steps.length - 1]!.command;
    let method: string = main.method;
    let traced: CommandTrace | undefined;
    let outcome = 'ok';
    try {
      traced = this.node.connectionTelemetry.command(this, main, dialect.name, size);
      const ctx = traced?.context;
      for (const step of steps) {
        method = step.command.method;
        await this.execute(step, dialect, ctx);
        if (step !== steps[steps.length - 1]) inc(counters.commands, `${method}|ok`);
      }
      if (next.reply !== undefined) this.send(wsTextFrameOf(next.reply));
    } catch (err) {
      let reply: ReplyError;
      const broker = brokerReplyError(err);
      if (err instanceof ReplyError) reply = err;
      else if (broker) reply = broker;
      else {
        this.log.error({ err, method }, 'command failed');
        reply = new ReplyError(ErrorCode.Internal, 'internal error');
      }
      outcome = reply.code;
      traced?.failed(reply.code);
      this.replyError(main.id, reply, dialect);
    }
    inc(counters.commands, `${method}|${outcome}`);
    traced?.end(outcome);
  }

  private reply(id: CommandId, result: unknown): void {
    if (id !== null) this.send(wsTextFrameOf(resultJson(id, result)));
  }

  private replyError(id: CommandId, err: ReplyError, dialect: Dialect): void {
    this.send(wsTextFrameOf(dialect.errorJson(id, err)));
  }

  /** One native command, after every check it needs. Translated steps (no id) get no success reply. */
  private async execute(step: Step, dialect: Dialect, ctx: TraceContext | undefined): Promise<void> {
    const node = this.node;
    const cmd = step.command;
    switch (cmd.method) {
      case 'subscribe': {
        // A dialect's join (seed 000's): a connection already subscribed to the channel has joined.
        if (step.join && this.subscriptions.has(cmd.params.channel)) return step.join.joined();
        const p = await this.prepareSubscription(cmd.params.channel, cmd.params.since, cmd.params.token, cmd.params.snapshot);
        // Joined only once the subscription was allowed: a refused join is tried again on the next seed 000 frame.
        step.join?.joined();
        if (!this.isCurrent(p)) return;
        // Seed clients know no `caught_up` push (nor any reply).
        p.sub.announce = dialect.announcesCatchUp;
        this.reply(cmd.id, p.result);
        return this.activateSubscription(p);
      }
      case 'unsubscribe':
        this.unsubscribe(cmd.params.channel);
        return this.reply(cmd.id, {});
      case 'publish': {
        const { channel, event, data, traceparent, tracestate, key, op } = cmd.params;
        checkPublish(node, this.identity, channel, this.subscriptions.has(channel));
        checkPublishSize(node, data);
        const meta = traceparent ? { traceparent, tracestate } : undefined;
        const pub = await node.publish(channel, event, data, meta, ctx, key === undefined ? undefined : { key, op: op ?? 'upsert' });
        return this.reply(cmd.id, { channel: pub.channel, epoch: pub.epoch, offset: pub.offset });
      }
      case 'send': {
        checkDirectMessage(node, this.identity);
        checkPublishSize(node, cmd.params.data);
        await node.sendToUser(cmd.params.user, cmd.params.event, cmd.params.data, undefined, this.userId);
        return this.reply(cmd.id, {});
      }
      case 'presence': {
        const rules = await checkRead(node, this.identity, cmd.params.channel, this.subscriptions.has(cmd.params.channel));
        if (!rules.presence) throw new ReplyError(ErrorCode.FeatureDisabled, `presence is turned off for channel "${cmd.params.channel}"`);
        const members = await node.presence(cmd.params.channel, ctx);
        return this.reply(cmd.id, { members });
      }
      case 'history': {
        // One reply of at most client.maxReplyBytes, queued only when the outbound queue has room (history-page.ts).
        const { channel, limit } = cmd.params;
        await checkRead(node, this.identity, channel, this.subscriptions.has(channel));
        if (cmd.id === null) return; // nothing to answer: nothing to read
        const query = { ...cmd.params, limit: limit ?? node.config.api.maxHistoryLimit };
        const page = await readHistoryPage(node, channel, query, node.config.client.maxReplyBytes, historyReplyEnvelope(cmd.id), ctx);
        await this.sendWhenRoom(historyReplyFrame(cmd.id, page));
        return;
      }
      case 'ping':
        return this.reply(cmd.id, {});
      case 'refresh':
        if (cmd.params.channel !== undefined) return this.refreshSubscription(cmd.id, cmd.params.channel, cmd.params.token);
        return this.refreshToken(cmd.id, cmd.params.token);
    }
  }

  /**
   * A fresh connection token before the current one expires: same user required; the new expiry applies, and
   * the token's `channels` grant replaces the old one.
   */
  private async refreshToken(id: CommandId, token: string): Promise<void> {
    const refresh = this.node.authenticator.refresh;
    if (!refresh) throw new ReplyError(ErrorCode.FeatureDisabled, 'this server has no token authentication');
    const r = await refresh.call(this.node.authenticator, token);
    if (!r.ok) {
      const code = r.code === 'token_expired' ? ErrorCode.TokenExpired : r.code === 'unavailable' ? ErrorCode.Unavailable : ErrorCode.Unauthorized;
      throw new ReplyError(code, r.message);
    }
    if (r.identity.userId !== this.userId) throw new ReplyError(ErrorCode.PermissionDenied, 'the token is for another user');
    this.identity = { ...r.identity, info: this.info };
    this.node.watchExpiry(this);
    const exp = r.identity.expiresAt;
    this.reply(id, exp ? { expires: Math.floor(exp / 1000) } : {});
    // Subscriptions that only the old token's `channels` claim allowed end when the new one no longer grants them.
    for (const sub of [...this.subscriptions.values()]) {
      if (sub.grantedBy === 'claim' && !this.identity.channels?.includes(sub.channel)) {
        this.revoke(sub, ErrorCode.PermissionDenied, `the refreshed token no longer grants channel "${sub.channel}"`);
      }
    }
  }

  /** A fresh subscription token for a subscribed channel: its expiry becomes the subscription's. */
  private async refreshSubscription(id: CommandId, channel: string, token: string): Promise<void> {
    const sub = this.subscriptions.get(channel);
    if (!sub) throw new ReplyError(ErrorCode.NotSubscribed, `not subscribed to ${channel}`);
    if (sub.rules.subscribe !== 'token') throw new ReplyError(ErrorCode.BadRequest, `channel "${channel}" needs no subscription token`);
    const grant = await verifySubscriptionToken(this.node, this.identity, channel, token);
    if (this.subscriptions.get(channel) !== sub) throw new ReplyError(ErrorCode.NotSubscribed, `not subscribed to ${channel}`);
    sub.grantedBy = 'token';
    sub.expiresAt = grant.expiresAt;
    this.node.watchExpiry(this);
    this.reply(id, grant.expiresAt !== undefined ? { expires: Math.floor(grant.expiresAt / 1000) } : {});
  }

}
