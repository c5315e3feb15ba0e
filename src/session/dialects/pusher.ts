import { channelAuthValid, signinValid } from '../../auth/pusher-signature.js';
import type { PusherAppConfig } from '../../auth/pusher-apps.js';
import { channelField, CommandError, ErrorCode, jsonText, ReplyError, type Command, type CommandId, type DecodeLimits, type ErrorBody, type Member } from '../../protocol/index.js';
import type { Dialect, Translation } from './dialect.js';
import { nativeChannelOf, nativeUserOf, PUSHER_USER_ID } from '../../protocol/pusher-data.js';
import { pusherErrorJson, PUSHER_PONG, pusherSubscriptionErrorJson, signinSuccessJson } from './pusher-frames.js';

/** What the Pusher adapter of one connection needs to know about it. */
export interface PusherContext {
  /** The app the connection's key named: its secret signs, its namespace holds its channels, its `clientEvents`. */
  readonly app: PusherAppConfig;
  /** The connection's `socket_id` (its connection id). */
  readonly socketId: string;
  readonly limits: DecodeLimits;
  /** Whether the connection is subscribed to a channel (client events need it). */
  isSubscribed(channel: string): boolean;
  /**
   * A verified `pusher:signin`: the connection becomes native user `user` (the app's user `user_data.id`,
   * nativeUserOf). False when it already signed in.
   */
  signIn(id: string, info: unknown): boolean;
}

/**
 * Pusher Channels protocol 7 (`{"event", "channel"?, "data"}` frames on `/app/{key}`), turned into native commands:
 * `pusher:subscribe` is `subscribe` (private and presence channels first pass the app's signature, a guard step),
 * `pusher:unsubscribe` is `unsubscribe`, a `client-*` event is `publish` excluding the sender (on a subscribed
 * private or presence channel, with `pusher.clientEvents` on), `pusher:ping` is `ping` answered `pusher:pong`, and
 * `pusher:signin` is a `ping` guarded by the sign-in signature. Channel names are the app's (protocol/pusher-data.ts:
 * an app with a namespace has its channels in it); signatures are over the names the client sent. Success replies are sent by PusherSession
 * (`subscription_succeeded`, `signin_success`); errors as `pusher:error` or, for a subscribe,
 * `pusher:subscription_error` on its channel.
 */
export class PusherDialect implements Dialect {
  readonly name = 'pusher';
  readonly announcesCatchUp = false;
  /** Presence members of this connection by channel, from the signed `channel_data` (at most one per subscription). */
  readonly members = new Map<string, Member>();

  constructor(private readonly c: PusherContext) {}

  recognizes(frame: Record<string, unknown>): boolean {
    return typeof frame.event === 'string';
  }

  translate(frame: Record<string, unknown>): Translation {
    const event = frame.event;
    if (typeof event !== 'string') throw new CommandError(ErrorCode.BadRequest, '"event" must be a string');
    const data = dataOf(frame.data);
    switch (event) {
      case 'pusher:ping':
        return { steps: [{ command: { id: null, method: 'ping', params: {} } }], reply: PUSHER_PONG };
      case 'pusher:subscribe':
        return this.subscribe(data);
      case 'pusher:unsubscribe':
        return { steps: [{ command: { id: null, method: 'unsubscribe', params: { channel: this.channel(data).native } } }] };
      case 'pusher:signin':
        return this.signin(data);
    }
    if (event.startsWith('client-')) return this.clientEvent(event, frame);
    throw new CommandError(ErrorCode.UnknownMethod, `unknown event ${JSON.stringify(event.slice(0, 64))}`);
  }

  /** The app's channel (`pusher`, as the client named it) and the native channel it stands for. */
  private channel(data: Record<string, unknown>): { pusher: string; native: string } {
    const pusher = channelField(data, 'channel', null, this.c.limits);
    const native = nativeChannelOf(this.c.app.namespace, pusher);
    if (native === undefined) throw new CommandError(ErrorCode.InvalidChannel, 'a Pusher channel name is 1-164 characters of A-Z a-z 0-9 _ - = @ , . ;');
    return { pusher, native };
  }

  private subscribe(data: Record<string, unknown>): Translation {
    const { pusher, native: channel } = this.channel(data);
    const command: Command = { id: null, method: 'subscribe', params: { channel } };
    if (!pusher.startsWith('private-') && !pusher.startsWith('presence-')) return { steps: [{ command }] };
    const { auth } = data;
    const channelData = typeof data.channel_data === 'string' ? data.channel_data : undefined;
    const presence = pusher.startsWith('presence-');
    const guard = () => {
      if (!channelAuthValid(this.c.app, this.c.socketId, pusher, auth, presence ? channelData : undefined)) {
        throw new ReplyError(ErrorCode.Unauthorized, `invalid signature for channel "${pusher}": the app's auth endpoint signs "socket_id:channel${presence ? ':channel_data' : ''}" with the app secret`);
      }
      if (presence) this.members.set(channel, presenceMember(channelData!, this.c.socketId));
    };
    if (presence && channelData === undefined) throw new CommandError(ErrorCode.BadRequest, 'a presence channel needs "channel_data"');
    return { steps: [{ command, guard }] };
  }

  private clientEvent(event: string, frame: Record<string, unknown>): Translation {
    const { pusher, native: channel } = this.channel(frame);
    if (!this.c.app.clientEvents) throw new CommandError(ErrorCode.PermissionDenied, 'client events are turned off for this app (pusher.clientEvents, or the app\'s clientEvents)');
    if (!pusher.startsWith('private-') && !pusher.startsWith('presence-')) {
      throw new CommandError(ErrorCode.PermissionDenied, 'client events are only allowed on private and presence channels');
    }
    const data = jsonText(frame.data ?? null, null);
    const guard = () => {
      if (!this.c.isSubscribed(channel)) throw new ReplyError(ErrorCode.NotSubscribed, `client events need a subscription to "${pusher}"`);
    };
    return { steps: [{ command: { id: null, method: 'publish', params: { channel, event, data, excludeSelf: true } }, guard }] };
  }

  private signin(data: Record<string, unknown>): Translation {
    const { auth, user_data: userData } = data;
    if (typeof userData !== 'string') throw new CommandError(ErrorCode.BadRequest, '"user_data" must be a string');
    const guard = () => {
      if (!signinValid(this.c.app, this.c.socketId, auth, userData)) {
        throw new ReplyError(ErrorCode.Unauthorized, 'invalid sign-in signature: the app signs "socket_id::user::user_data" with its secret');
      }
      const user = dataOf(userData);
      const id = user.id;
      if (typeof id !== 'string' || !PUSHER_USER_ID.test(id)) throw new ReplyError(ErrorCode.BadRequest, '"user_data" must name an "id" of 1-128 characters of letters, digits and _-.:@');
      if (!this.c.signIn(nativeUserOf(this.c.app.namespace, id), user.user_info)) throw new ReplyError(ErrorCode.BadRequest, 'this connection has signed in already');
    };
    return { steps: [{ command: { id: null, method: 'ping', params: {} }, guard }], reply: signinSuccessJson(userData) };
  }

  errorJson(_id: CommandId, error: ErrorBody, command?: Command): string {
    if (command?.method === 'subscribe') {
      // A refused subscription leaves no member behind (the table holds only subscribed presence channels).
      if (!this.c.isSubscribed(command.params.channel)) this.members.delete(command.params.channel);
      return pusherSubscriptionErrorJson(command.params.channel, error);
    }
    return pusherErrorJson(error);
  }
}

/** The frame's `data`: an object, or an object sent as JSON text (some clients do); anything else is empty. */
function dataOf(v: unknown): Record<string, unknown> {
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      return {};
    }
  }
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/** The presence member a signed `channel_data` names: `{user_id, user_info}`. */
function presenceMember(channelData: string, socketId: string): Member {
  const d = dataOf(channelData);
  const id = d.user_id;
  if ((typeof id !== 'string' && typeof id !== 'number') || String(id).length === 0 || String(id).length > 128) {
    throw new ReplyError(ErrorCode.BadRequest, '"channel_data" must name a "user_id" (a string or number)');
  }
  return d.user_info === undefined ? { user: String(id), client: socketId } : { user: String(id), client: socketId, info: d.user_info };
}
