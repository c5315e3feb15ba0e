import type { Identity } from '../auth/identity.js';
import { EncodedPublication, wsTextFrameOf } from '../delivery/encoded.js';
import { Disconnects, ErrorCode, ReplyError, type Disconnect, type ServerPublication, type StreamPosition } from '../protocol/index.js';
import { CentrifugeDialect, Dialects, type FrameDecoder } from './dialects/index.js';
import { centrifugeSubscribed } from './dialects/centrifuge.js';
import type { NodeServices } from './services.js';
import type { ConnectionInfo, PreparedSubscription } from './session.js';
import type { Subscription } from './subscription.js';
import { WsSession, type WsTransport } from './ws-session.js';

/** A client's `connect` command: `{"id", "connect": {"token", "data", "subs"}}`, and the commands sent with it. */
export interface CentrifugeConnect {
  readonly id: number;
  /** The connection token ('' for none). */
  readonly token: string;
  /** The client's connect data (any JSON), for the connect proxy. */
  readonly data: unknown;
  /** Server-side subscriptions to recover: channel → `{recover, epoch, offset}` (centrifuge-js sends them on reconnect). */
  readonly subs: Readonly<Record<string, unknown>>;
  /** Newline-separated commands that followed `connect` in its frame. */
  readonly rest: readonly string[];
}

/**
 * A connection speaking the Centrifuge client protocol (docs/compat.md "Migrating from Centrifugo"): a WsSession whose one
 * vocabulary is CentrifugeDialect, so every command runs the native dispatch and checks; only the framing differs.
 * A frame may hold several newline-separated commands; an empty command `{}` is the client's pong.
 */
export class CentrifugeSession extends WsSession {
  constructor(
    node: NodeServices,
    identity: Identity,
    ws: WsTransport,
    private readonly version: string,
    conn: ConnectionInfo,
  ) {
    super(node, identity, ws, version, conn);
  }

  /** The one vocabulary of this endpoint: Centrifuge commands, each translated into native ones. */
  protected override createDecoder(): FrameDecoder {
    const cfg = this.node.config;
    const limits = { maxChannelLength: cfg.channel.maxLength, maxHistoryLimit: cfg.api.maxHistoryLimit, maxKeyLength: cfg.keyed.maxKeyLength };
    return new Dialects({ userId: this.userId, seed000Channel: cfg.compat.seed000Channel, limits }, new CentrifugeDialect(limits));
  }

  /** No greeting: the `connect` command's reply is the first frame (connected()). */
  protected override greeting(): Buffer {
    return EMPTY;
  }

  override handleFrame(data: Buffer, isBinary: boolean): void {
    const text = data.toString('utf8');
    if (!text.includes('\n')) {
      if (!isPong(text)) super.handleFrame(data, isBinary);
      return;
    }
    for (const line of text.split('\n')) {
      if (line.trim() === '' || isPong(line)) continue;
      super.handleFrame(Buffer.from(line, 'utf8'), isBinary);
    }
  }

  /**
   * The answer to the client's `connect` (src/transport/centrifuge-endpoint.ts), the connection's first frame, then
   * the commands that came in the same frame. `ping`/`pong` ask the client to expect a `{}` every `pingInterval`
   * (s; none when 0) and answer it; `expires`/`ttl` make it refresh its token before it expires; `data` is the
   * connect proxy's for the client. The channels the token grants (`channels` claim, or the connect proxy's) are
   * Centrifuge server-side subscriptions: subscribed before the reply, listed in its `subs` (recovered from the
   * positions the client sends for them on reconnect), their publications pushed with their channel.
   */
  async handshake(connect: CentrifugeConnect): Promise<void> {
    const { subs, prepared } = await this.serverSubscriptions(connect.subs);
    if (this.closed) return;
    const exp = this.identity.expiresAt;
    const interval = this.node.config.websocket.pingInterval;
    const ping = interval > 0 ? Math.max(1, Math.round(interval / 1000)) : 0;
    const result = {
      client: this.id,
      version: this.version,
      ...(exp ? { expires: true, ttl: Math.max(1, Math.floor((exp - Date.now()) / 1000)) } : {}),
      ...(ping > 0 ? { ping, pong: true } : {}),
      ...(this.identity.data !== undefined ? { data: this.identity.data } : {}),
      ...(prepared.length > 0 ? { subs } : {}),
    };
    this.send(frame({ id: connect.id, connect: result }));
    for (const line of connect.rest) this.handleFrame(Buffer.from(line, 'utf8'), false);
    // Missed publications, then live ones, as pushes after the reply (a replay larger than the queue is paced).
    void this.activateServerSubscriptions(prepared);
  }

  /**
   * The token's channels, each checked like a client subscribe (they count in `token` namespaces, as natively). A
   * channel that cannot be subscribed is left out of `subs` and logged; the connection goes on without it.
   */
  private async serverSubscriptions(positions: CentrifugeConnect['subs']): Promise<{ subs: Record<string, unknown>; prepared: PreparedSubscription[] }> {
    const subs: Record<string, unknown> = {};
    const prepared: PreparedSubscription[] = [];
    for (const channel of this.identity.channels ?? []) {
      if (this.closed) break;
      const since = recoverFrom(positions[channel]);
      try {
        const p = await this.prepareSubscription(channel, since);
        if (!this.isCurrent(p)) continue;
        p.sub.announce = false;
        subs[channel] = centrifugeSubscribed(p.result, since !== undefined);
        prepared.push(p);
      } catch (err) {
        const code = err instanceof ReplyError ? err.code : ErrorCode.Internal;
        if (!(err instanceof ReplyError)) this.log.error({ err, channel }, 'server-side subscription failed');
        this.log.warn({ event: 'server_subscription_refused', channel, code }, 'a channel of the token could not be subscribed');
      }
    }
    return { subs, prepared };
  }

  private async activateServerSubscriptions(prepared: readonly PreparedSubscription[]): Promise<void> {
    for (const p of prepared) {
      if (!this.isCurrent(p)) continue;
      try {
        await this.activateSubscription(p);
      } catch (err) {
        this.log.error({ err, channel: p.sub.channel }, 'server-side subscription failed');
        this.revoke(p.sub, ErrorCode.Internal, 'internal error');
      }
    }
  }

  /** A server ping (`{}`): the client answers `{}` (connect reply `pong: true`). */
  ping(): void {
    if (!this.closed) this.send(PING);
  }

  protected override framePublication(enc: EncodedPublication, _sub: Subscription): Buffer {
    return centrifugeShape(enc).wsFrame();
  }

  protected override framePush(event: string, json: string): Buffer {
    // Pushes are rare (not per publication): parsing the native JSON back is fine here.
    const p = JSON.parse(json) as { channel?: string; payload?: unknown; code?: string; message?: string; user?: string; client?: string };
    switch (event) {
      case 'caught_up':
        return EMPTY; // Centrifuge clients know the end of a recovery from the subscribe reply
      case 'unsubscribed':
        // Codes below 2500 end the subscription for good on the client (no resubscribe): a revoked grant.
        return frame({ push: { channel: p.channel, unsubscribe: { code: 2000, reason: `${p.code}: ${p.message}` } } });
      case 'join':
      case 'leave':
        return frame({ push: { channel: p.channel, [event]: { info: { client: p.client, user: p.user } } } });
      default:
        // A direct message (`send`): Centrifuge's async message push.
        return frame({ push: { message: { data: p.payload ?? null } } });
    }
  }

  protected override closeTransport(d: Disconnect): void {
    // Below 3000 the client reads "transport closed" and reconnects: 1000/1001 become Centrifuge's 3000/3001, which
    // mean the same (reconnect). Switchboard's 4000-4499 (reconnect) and 4500+ (do not) follow Centrifuge's ranges.
    const code = d.code === Disconnects.Normal.code ? 3000 : d.code === Disconnects.Shutdown.code ? 3001 : d.code;
    super.closeTransport({ ...d, code });
  }
}

const PING = wsTextFrameOf('{}');

/** The position a reconnecting client sends for a server-side subscription (`{recover, epoch, offset}`), if usable. */
function recoverFrom(sub: unknown): StreamPosition | undefined {
  const s = sub as { recover?: unknown; epoch?: unknown; offset?: unknown } | null | undefined;
  if (typeof s !== 'object' || s === null || s.recover !== true || typeof s.epoch !== 'string' || s.epoch === '') return undefined;
  const offset = s.offset ?? 0;
  return typeof offset === 'number' && Number.isSafeInteger(offset) && offset >= 0 ? { epoch: s.epoch, offset } : undefined;
}
const EMPTY = Buffer.alloc(0);

function isPong(text: string): boolean {
  return text.trim() === '{}';
}

function frame(o: unknown): Buffer {
  return wsTextFrameOf(JSON.stringify(o));
}

/** `{"push":{"channel","pub":{"data","offset"}}}`; an event other than `message` travels as tag `event`. */
export function centrifugePublicationJson(p: ServerPublication): string {
  const tags = p.event === 'message' ? '' : ',"tags":{"event":' + JSON.stringify(p.event) + '}';
  return '{"push":{"channel":' + JSON.stringify(p.channel) + ',"pub":{"data":' + p.data + ',"offset":' + p.offset + tags + '}}}';
}

/** The Centrifuge encodings of a publication, built once per publication like the native ones. */
class CentrifugePublication extends EncodedPublication {
  private text: string | undefined;
  override get json(): string {
    return (this.text ??= centrifugePublicationJson(this.pub));
  }
}

/** One CentrifugePublication per publication, whatever the number of recipients; gone with the publication. */
const shapes = new WeakMap<EncodedPublication, EncodedPublication>();

function centrifugeShape(enc: EncodedPublication): EncodedPublication {
  let c = shapes.get(enc);
  if (c === undefined) shapes.set(enc, (c = new CentrifugePublication(enc.pub)));
  return c;
}
