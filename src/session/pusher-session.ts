import type { EncodedPublication } from '../delivery/encoded.js';
import { wsTextFrameOf } from '../delivery/encoded.js';
import type { Identity } from '../auth/identity.js';
import type { PusherAppConfig } from '../auth/pusher-apps.js';
import { pusherChannelOf } from '../protocol/pusher-data.js';
import { CommandError, ErrorCode, parseFrame, ReplyError, type Member } from '../protocol/index.js';
import { DialectError, type Decoded, type FrameDecoder } from './dialects/index.js';
import { PusherDialect } from './dialects/pusher.js';
import {
  connectionEstablishedJson,
  memberAddedJson,
  memberRemovedJson,
  PUSHER_FORMAT,
  pusherEventJson,
  subscriptionSucceededJson,
} from './dialects/pusher-frames.js';
import type { Subscription } from './subscription.js';
import { WsSession } from './ws-session.js';

/**
 * The app of each Pusher connection's identity (set by the endpoint, which found the app by key; read when the
 * session is built). A WeakMap keeps Identity the shape every endpoint shares and forgets refused handshakes.
 */
const appOfIdentity = new WeakMap<Identity, PusherAppConfig>();

/** The identity of a connection to `app` (PusherEndpoint.authenticate). */
export function pusherIdentity(userId: string, app: PusherAppConfig): Identity {
  const identity: Identity = { userId };
  appOfIdentity.set(identity, app);
  return identity;
}

/**
 * A Pusher Channels connection (`/app/{key}`, docs/compat.md): a WebSocket session whose only vocabulary is
 * Pusher's (dialects/pusher.ts), so every frame runs the native checks, limits, spans and metrics. It differs from
 * the native session only in its frames: `connection_established` first, publications as Pusher events (built once
 * per publication), `subscription_succeeded` with the presence members, and member events counted per user (Pusher
 * announces a user, not each of their connections).
 */
export class PusherSession extends WsSession {
  /** Set by createDecoder, which the base constructor calls (hence `declare`: no field initializer may reset it). */
  private declare pusher: PusherDialect;
  /** Presence channels: connections per user, as this connection has seen them (for member_added/removed). */
  private declare presenceUsers: Map<string, Map<string, number>>;

  protected override createDecoder(): FrameDecoder {
    const cfg = this.node.config;
    const app = appOfIdentity.get(this.identity);
    if (!app) throw new Error('PusherSession without an app (identities come from pusherIdentity)');
    const dialect = new PusherDialect({
      app,
      socketId: this.id,
      limits: { maxChannelLength: cfg.channel.maxLength, maxHistoryLimit: cfg.api.maxHistoryLimit, maxKeyLength: cfg.keyed.maxKeyLength },
      isSubscribed: (channel) => this.subscriptions.get(channel)?.live === true,
      signIn: (id, info) => this.signIn(id, info),
    });
    this.pusher = dialect;
    this.presenceUsers = new Map();
    return {
      native: dialect,
      decode(text: string): Decoded {
        try {
          const frame = parseFrame(text);
          if (!dialect.recognizes(frame)) throw new CommandError(ErrorCode.BadRequest, 'a Pusher frame needs a string "event"');
          return { dialect, ...dialect.translate(frame) };
        } catch (err) {
          if (err instanceof CommandError) throw new DialectError(err.code, err.message, err.id, dialect);
          throw err;
        }
      },
    };
  }

  /**
   * A verified sign-in: the connection becomes the user (the native user index, so `POST /api/send`, `POST
   * /apps/{id}/users/{user}/terminate_connections` and the user channel reach it). Once per connection.
   */
  private signedIn = false;
  private signIn(id: string, info: unknown): boolean {
    if (this.signedIn) return false;
    this.signedIn = true;
    this.node.changeUser(this, () => {
      this.userId = id;
      this.identity = { ...this.identity, userId: id, ...(info === undefined ? {} : { info }) };
    });
    this.log.info({ event: 'pusher_signin', signed_in_user: id }, 'signed in');
    return true;
  }

  protected override greeting(): Buffer {
    return wsTextFrameOf(connectionEstablishedJson(this.id, Math.max(1, Math.round(this.node.config.pusher.activityTimeout / 1000))));
  }

  /** The token's channels are a native notion; Pusher clients subscribe themselves. */
  override async autoSubscribe(): Promise<void> {}

  protected override framePublication(enc: EncodedPublication, _sub: Subscription): Buffer {
    return enc.frameIn(PUSHER_FORMAT);
  }

  /** Pushes without a Pusher equivalent (a message to the user) arrive as `switchboard:<event>` with the native JSON. */
  protected override framePush(event: string, json: string): Buffer {
    return wsTextFrameOf(pusherEventJson('switchboard:' + event, undefined, json));
  }

  protected override memberOf(channel: string): Member {
    return this.pusher.members.get(channel) ?? this.member;
  }

  /**
   * `subscription_succeeded`, before the channel's first publication. A presence channel lists its members (read
   * through the node, plus this connection, whose presence is added next); it needs presence and join/leave events
   * on in its namespace (`channel.presence`, `channel.joinLeave` for channels without a namespace prefix).
   */
  protected override async beforeLive(channel: string): Promise<void> {
    const me = this.pusher.members.get(channel);
    if (me === undefined || !pusherChannelOf(channel).startsWith('presence-')) {
      this.send(wsTextFrameOf(subscriptionSucceededJson(channel)));
      return;
    }
    const rules = this.subscriptions.get(channel)!.rules;
    if (!rules.presence || !rules.joinLeave) {
      this.unsubscribe(channel);
      const where = rules.namespace === '' ? 'channel.presence and channel.joinLeave' : `presence and joinLeave of namespace "${rules.namespace}"`;
      throw new ReplyError(ErrorCode.FeatureDisabled, `presence channel "${pusherChannelOf(channel)}" needs presence and join/leave events on in its namespace (${where})`);
    }
    const members = await this.node.presence(channel);
    const users = new Map<string, number>();
    const infos = new Map<string, unknown>();
    for (const m of [...members, me]) {
      users.set(m.user, (users.get(m.user) ?? 0) + 1);
      if (!infos.has(m.user)) infos.set(m.user, m.info);
    }
    this.presenceUsers.set(channel, users);
    this.send(wsTextFrameOf(subscriptionSucceededJson(channel, infos)));
  }

  override deliverMemberEvent(channel: string, event: string, json: string): void {
    const users = this.presenceUsers.get(channel);
    if (users === undefined || !this.subscriptions.get(channel)?.live) return;
    const member = (JSON.parse(json) as { payload: Member }).payload;
    const n = users.get(member.user) ?? 0;
    if (event === 'join') {
      users.set(member.user, n + 1);
      if (n === 0) this.send(wsTextFrameOf(memberAddedJson(channel, member)));
    } else if (event === 'leave' && n > 0) {
      if (n > 1) users.set(member.user, n - 1);
      else {
        users.delete(member.user);
        this.send(wsTextFrameOf(memberRemovedJson(channel, member.user)));
      }
    }
  }

  protected override unsubscribe(channel: string): void {
    super.unsubscribe(channel);
    this.pusher.members.delete(channel);
    this.presenceUsers.delete(channel);
  }
}
