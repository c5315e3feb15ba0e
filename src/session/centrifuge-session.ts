import type { Identity } from '../auth/identity.js';
import { EncodedPublication, wsTextFrameOf } from '../delivery/encoded.js';
import { Disconnects, type Disconnect, type ServerPublication } from '../protocol/index.js';
import { CentrifugeDialect, Dialects, type FrameDecoder } from './dialects/index.js';
import type { NodeServices } from './services.js';
import type { ConnectionInfo } from './session.js';
import type { Subscription } from './subscription.js';
import { WsSession, type WsTransport } from './ws-session.js';

/**
 * A connection speaking the Centrifuge client protocol (docs/compat.md "From Centrifugo"): a WsSession whose one
 * vocabulary is CentrifugeDialect, so every command runs the native dispatch and checks; only the framing differs.
 * A frame may hold several newline-separated commands; an empty command `{}` is the client's pong.
 */
export class CentrifugeSession extends WsSession {
  constructor(node: NodeServices, identity: Identity, ws: WsTransport, version: string, conn: ConnectionInfo) {
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

  /** The `channels` claim is not turned into Centrifuge server-side subscriptions (yet): nothing to do. */
  override async autoSubscribe(): Promise<void> {}

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
   * The `connect` reply, the connection's first frame: `ping`/`pong` ask the client to expect a `{}` every
   * `pingInterval` (ms; 0: none) and answer it; `expires`/`ttl` make it refresh its token before it expires.
   */
  connected(id: number, version: string, pingInterval: number): void {
    const exp = this.identity.expiresAt;
    const ping = pingInterval > 0 ? Math.max(1, Math.round(pingInterval / 1000)) : 0;
    const result = {
      client: this.id,
      version,
      ...(exp ? { expires: true, ttl: Math.max(1, Math.floor((exp - Date.now()) / 1000)) } : {}),
      ...(ping > 0 ? { ping, pong: true } : {}),
    };
    this.send(frame({ id, connect: result }));
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
