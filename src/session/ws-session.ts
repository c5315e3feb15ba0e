import type { Identity } from '../auth/identity.js';
import { brokerReplyError } from '../broker/broker.js';
import { inc } from '../observability/counters.js';
import type { TraceContext } from '../core/trace-context.js';
import { type EncodedPublication, wsTextFrameOf } from '../delivery/encoded.js';
import { DeltaStream } from '../delivery/delta.js';
import {
  connectedJson,
  Disconnects,
  ErrorCode,
  PROTOCOL_VERSION,
  ReplyError,
  resultJson,
  rpcReplyJson,
  type Command,
  type CommandId,
  type DecodeLimits,
  type Disconnect,
  withExclude,
} from '../protocol/index.js';
import { DialectError, Dialects, publicationShape, type Decoded, type Dialect, type FrameDecoder, type Step } from './dialects/index.js';
import type { ByteSink } from '../delivery/outbound.js';
import type { NodeServices } from './services.js';
import type { CommandTrace } from './connection-telemetry.js';
import { Session, type ConnectionInfo } from './session.js';
import { CommandQueue, type CommandQueueHost } from './command-queue.js';
import { CommandRate } from './command-rate.js';
import { claimsLost, refreshedIdentity, refreshSubscription } from './refresh.js';
import { callRpc, checkDirectMessage, checkPublish, checkPublishSize, checkRead } from './permissions.js';
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

/** A decoded command waiting its turn, with its frame's size. */
type Pending = Decoded & { size: number };

/** `{expires}` (Unix seconds) of a refresh reply, or `{}` for a token without expiry. */
function expiresReply(at: number | undefined): { expires?: number } {
  return at ? { expires: Math.floor(at / 1000) } : {};
}

/**
 * A WebSocket connection: reads frames in any vocabulary it speaks (src/session/dialects/, each translated into
 * native commands before anything is checked), runs them one at a time in arrival order (command-queue.ts) within
 * the command rate (command-rate.ts), and dispatches each native command to its checks and node operation.
 */
export class WsSession extends Session implements CommandQueueHost<Pending, DialectError> {
  private badFrames = 0;
  private readonly rate: CommandRate;
  private readonly commands: CommandQueue<Pending, DialectError>;
  /** The vocabularies this connection may speak, each translated into native commands (src/session/dialects/). */
  private readonly dialects: FrameDecoder;

  constructor(
    node: NodeServices,
    identity: Identity,
    private readonly ws: WsTransport,
    version: string,
    conn: ConnectionInfo,
  ) {
    super(node, identity, ws, 'websocket', conn);
    this.dialects = this.createDecoder();
    // An endpoint with its own handshake (Centrifuge answers `connect`) has no greeting frame.
    const hello = this.greeting(version);
    if (hello.length > 0) this.send(hello);
    const limits = node.config.limits;
    this.rate = new CommandRate(limits.commandRate, limits.commandRejectLimit);
    // The session is its command queue's host (methods on the prototype: no closures per connection).
    this.commands = new CommandQueue<Pending, DialectError>(this, node.config.client.queueMaxBytes);
    node.watchExpiry(this);
  }

  /**
   * The vocabulary of this endpoint: the native one with the seed dialects (a subclass speaking another protocol on
   * its own endpoint gives its own). Called from the constructor: it may use only the Session's fields.
   */
  protected createDecoder(): FrameDecoder {
    const cfg = this.node.config;
    return new Dialects({
      userId: this.userId,
      seed000Channel: cfg.compat.seed000Channel,
      limits: { maxChannelLength: cfg.channel.maxLength, maxHistoryLimit: cfg.api.maxHistoryLimit, maxKeyLength: cfg.keyed.maxKeyLength },
    });
  }

  /** The first frame of the connection (native: `connected`). Called from the constructor, like createDecoder. */
  protected greeting(version: string): Buffer {
    const interval = this.node.config.websocket.pingInterval;
    const pingSeconds = interval > 0 ? Math.max(1, Math.round(interval / 1000)) : 0;
    const exp = this.identity.expiresAt;
    return wsTextFrameOf(
      connectedJson({ client: this.id, user: this.userId, version, protocol: PROTOCOL_VERSION, ping: pingSeconds, ...(exp ? { expires: Math.floor(exp / 1000) } : {}) }),
    );
  }

  /**
   * Between a subscription's checks and its going live (its publications, presence add and join follow): a dialect
   * that confirms subscriptions in its own shape does it here (Pusher's `subscription_succeeded`).
   */
  protected async beforeLive(_channel: string): Promise<void> {}

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

  protected framePublication(enc: EncodedPublication, sub: Subscription): Buffer {
    const shaped = publicationShape(enc, this.node.config.compat.seed000Channel);
    // Delta compression: a delta against what the client was last sent, when allowed (src/delivery/delta.ts).
    return sub.delta !== undefined && shaped === enc ? sub.delta.frame(enc, sub.live) : shaped.wsFrame();
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
    if (this.closed || this.rate.flooded) return;
    const cfg = this.node.config.websocket;
    const native = this.dialects.native;
    const primary = this.dialects.native;
    if (isBinary && !cfg.allowBinary) {
      return this.commands.bad(new DialectError(ErrorCode.BinaryNotAllowed, 'binary frames are not accepted; send JSON text frames', null, primary));
    }
    if (data.length > cfg.maxMessageSize) {
      return this.commands.bad(new DialectError(ErrorCode.MessageTooLarge, `frame of ${data.length} bytes exceeds websocket.maxMessageSize (${cfg.maxMessageSize})`, null, primary));
    }
    if (!this.rate.take()) return this.rateLimited();
    let decoded: Decoded;
    try {
      decoded = this.dialects.decode(data.toString('utf8'));
    } catch (err) {
      return this.commands.bad(err instanceof DialectError ? err : new DialectError(ErrorCode.InvalidJson, 'frame could not be decoded', null, primary));
    }
    // `ping` needs no broker: it is answered at once, not behind a command still waiting for the broker (a frozen
    // Redis must not make a connection look dead). Replies are matched by id, so this one may overtake theirs.
    if (decoded.dialect === native && decoded.steps[0]?.command.method === 'ping') return void this.run({ ...decoded, size: data.length });
    this.commands.command({ ...decoded, size: data.length }, data.length);
  }

  /**
   * Over `limits.commandRate`: the command is refused with `too_many_requests` (the reply costs the server little),
   * in its turn behind earlier commands; past `limits.commandRejectLimit` refusals the connection is closed (4006)
   * after the replies already owed, and frames after that are ignored.
   */
  private rateLimited(): void {
    const rate = this.rate.rate;
    this.node.limitHit('command_rate', this, { rate });
    // In the connection's own vocabulary (Pusher: `pusher:error` 4301).
    const reply = wsTextFrameOf(this.dialects.native.errorJson(null, { code: ErrorCode.TooManyRequests, message: `more than ${rate} commands per second (limits.commandRate)` }));
    this.commands.raw(reply, this.rate.refuse() ? Disconnects.RateLimited : undefined);
  }

  // ---- CommandQueueHost --------------------------------------------------------------------------------------------

  isClosed(): boolean {
    return this.closed;
  }

  sendRaw(frame: Buffer, close?: Disconnect): void {
    this.send(frame);
    if (close) this.disconnect(close);
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  /** Answers a frame that could not be read as a command. */
  badFrame(err: DialectError): void {
    inc(this.node.counters.commands, `invalid|${err.code}`);
    this.node.connectionTelemetry.badFrame(this, err.code);
    this.replyError(err.id, err, err.dialect);
    if (++this.badFrames >= this.node.config.websocket.maxBadFrames) {
      this.log.info({ event: 'bad_protocol', bad_frames: this.badFrames }, 'too many bad frames; closing');
      this.disconnect(Disconnects.BadProtocol);
    }
  }

  /**
   * One decoded frame: native steps (src/session/dialects/), each checked and run like the native command it is,
   * under one `websocket.handle_message` span; counted per native method and outcome.
   */
  /** Runs one command (the command queue calls it, one at a time). */
  async run(next: Decoded & { size: number }): Promise<void> {
    const { dialect, size, steps, frame } = next;
    const counters = this.node.counters;
    // Every translation has at least one step; the last is the one the frame is about (seed 000's join comes first).
    const main = steps[steps.length - 1]!.command;
    let method: string = main.method;
    let traced: CommandTrace | undefined;
    let outcome = 'ok';
    try {
      traced = this.node.connectionTelemetry.command(this, main, dialect.name, size, frame ?? { kind: 'command', type: main.method });
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
      this.replyError(main.id, reply, dialect, main);
    }
    inc(counters.commands, `${method}|${outcome}`);
    traced?.end(outcome);
  }

  private reply(cmd: Command, result: unknown, dialect: Dialect): void {
    if (cmd.id === null) return;
    this.send(wsTextFrameOf(dialect.resultJson ? dialect.resultJson(cmd, result) : resultJson(cmd.id, result)));
  }

  private replyError(id: CommandId, err: ReplyError, dialect: Dialect, command?: Command): void {
    this.send(wsTextFrameOf(dialect.errorJson(id, err, command)));
  }

  /** One native command, after every check it needs. Translated steps (no id) get no success reply. */
  private async execute(step: Step, dialect: Dialect, ctx: TraceContext | undefined): Promise<void> {
    const node = this.node;
    const cmd = step.command;
    step.guard?.();
    switch (cmd.method) {
      case 'subscribe': {
        const channel = cmd.params.channel;
        // A dialect's join (seed 000's): a connection already subscribed to the channel has joined.
        if (step.join && this.subscriptions.has(channel)) return step.join.joined();
        const traced = node.connectionTelemetry.channel(this, 'subscribe', channel, ctx);
        try {
          const p = await this.prepareSubscription(channel, cmd.params.since, cmd.params.token, cmd.params.snapshot, ctx ?? this.traceContext, cmd.params.data);
          // Joined only once the subscription was allowed: a refused join is tried again on the next seed 000 frame.
          step.join?.joined();
          if (!this.isCurrent(p)) return traced?.end(node.subscriberCount(channel));
          // Seed clients know no `caught_up` push (nor any reply).
          p.sub.announce = dialect.announcesCatchUp;
          // Delta compression: native WebSocket subscriptions to channels that are not keyed (docs/protocol.md).
          const delta = cmd.params.delta !== undefined && !p.sub.rules.keyed;
          if (delta) p.sub.delta = new DeltaStream(node.config.delta);
          this.reply(cmd, delta ? { ...p.result, delta: cmd.params.delta } : p.result, dialect);
          await this.beforeLive(channel);
          if (!this.isCurrent(p)) return traced?.end(node.subscriberCount(channel));
          await this.activateSubscription(p);
          traced?.end(node.subscriberCount(channel));
        } catch (err) {
          traced?.failed(err instanceof ReplyError ? err.code : ErrorCode.Internal);
          throw err;
        }
        return;
      }
      case 'unsubscribe': {
        const traced = node.connectionTelemetry.channel(this, 'unsubscribe', cmd.params.channel, ctx);
        this.unsubscribe(cmd.params.channel);
        traced?.end(node.subscriberCount(cmd.params.channel));
        return this.reply(cmd, {}, dialect);
      }
      case 'publish': {
        const { channel, event, data, traceparent, tracestate, key, op, excludeSelf, idempotencyKey } = cmd.params;
        // The namespace's rules, the size bound and its publish proxy, which may replace the data (permissions.ts).
        const allowed = await checkPublish(node, this, channel, this.subscriptions.has(channel), event, data, ctx ?? this.traceContext);
        const trace = traceparent ? { traceparent, tracestate } : undefined;
        // `exclude_self` and a dialect's client events skip their sender (PublicationMeta.exclude).
        const meta = withExclude(trace, excludeSelf ? this.id : undefined);
        const pub = await node.publish(channel, event, allowed, meta, ctx, key === undefined ? undefined : { key, op: op ?? 'upsert' }, idempotencyKey);
        return this.reply(cmd, { channel: pub.channel, epoch: pub.epoch, offset: pub.offset }, dialect);
      }
      case 'send': {
        const { user, event, data, traceparent, tracestate } = cmd.params;
        checkDirectMessage(node, this.identity);
        checkPublishSize(node, data);
        const meta = traceparent ? { traceparent, tracestate } : undefined;
        await node.sendToUser(user, event, data, meta, this.userId, ctx);
        return this.reply(cmd, {}, dialect);
      }
      case 'presence': {
        const rules = await checkRead(node, this, cmd.params.channel, this.subscriptions.has(cmd.params.channel), ctx ?? this.traceContext);
        if (!rules.presence) throw new ReplyError(ErrorCode.FeatureDisabled, `presence is turned off for channel "${cmd.params.channel}"`);
        const members = await node.presence(cmd.params.channel, ctx);
        return this.reply(cmd, { members }, dialect);
      }
      case 'history': {
        // One reply of at most client.maxReplyBytes, queued only when the outbound queue has room (history-page.ts).
        const { channel, limit } = cmd.params;
        await checkRead(node, this, channel, this.subscriptions.has(channel), ctx ?? this.traceContext);
        if (cmd.id === null) return; // nothing to answer: nothing to read
        const query = { ...cmd.params, limit: limit ?? node.config.api.maxHistoryLimit };
        const page = await readHistoryPage(node, channel, query, node.config.client.maxReplyBytes, historyReplyEnvelope(cmd.id), ctx);
        await this.sendWhenRoom(dialect.resultJson ? wsTextFrameOf(dialect.resultJson(cmd, page)) : historyReplyFrame(cmd.id, page));
        return;
      }
      case 'rpc': {
        // The backend's answer (docs/proxy.md), at most proxy.maxResponseSize, queued when the queue has room.
        const data = await callRpc(node, this, cmd.params.method, cmd.params.data, ctx ?? this.traceContext);
        if (cmd.id !== null) await this.sendWhenRoom(wsTextFrameOf(dialect.resultJson ? dialect.resultJson(cmd, data) : rpcReplyJson(cmd.id, data)));
        return;
      }
      case 'ping':
        return this.reply(cmd, {}, dialect);
      case 'refresh': {
        const { channel, token } = cmd.params;
        if (channel !== undefined) {
          const sub = await refreshSubscription(node, this.identity, channel, token, () => this.subscriptions.get(channel));
          node.watchExpiry(this);
          return this.reply(cmd, expiresReply(sub.expiresAt), dialect);
        }
        this.identity = await refreshedIdentity(node, this.identity, token);
        node.watchExpiry(this);
        this.reply(cmd, expiresReply(this.identity.expiresAt), dialect);
        for (const sub of claimsLost(this.subscriptions.values(), this.identity)) {
          this.revoke(sub, ErrorCode.PermissionDenied, `the refreshed token no longer grants channel "${sub.channel}"`);
        }
        return;
      }
    }
  }
}
