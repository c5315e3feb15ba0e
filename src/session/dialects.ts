import { wsTextFrameOf } from '../hub/encoded.js';
import { ErrorCode, ReplyError, type Command, type NativeCommand, type PublicationMeta } from '../protocol/index.js';

/**
 * The seeds' vocabularies as adapters: each seed frame is translated into native commands before anything is
 * checked or run, so a seed frame passes exactly the permission checks, limits, spans and metrics of the native
 * command it stands for (there is no second path to publish, subscribe or message a user).
 *
 * Seed 002 (`{"type", "payload"}`): `join_room` / `leave_room` are `subscribe` / `unsubscribe` of the `room_id`
 * channel; `send_to_room` is `publish` with event `chat_message` whose data is the sender's payload with the server-set
 * `user_id`; `send_to_user` is `send` with event `direct_message` to `payload.user_id`, the data carrying the
 * server-set `from_user_id`. Seed 000 (`{"action", "data"}`): the first frame of a connection joins the
 * `compat.seed000Channel` channel (a `subscribe`); `ping` is answered `{"action":"pong"}`; `chat` is `publish` with
 * event `chat` on that channel. Seed frames never get a success reply, only errors (in their own shape).
 */
export interface Step {
  /** A native command; a translated one has no id, so it gets no success reply (errors are answered in dialect). */
  readonly command: NativeCommand;
  /** Extra publication meta of a translated publish (seed 000 chats carry `action`/`data` for their readers). */
  readonly meta?: PublicationMeta;
  /** Seed 000's join: skipped when the connection is already subscribed to the channel. */
  readonly join?: boolean;
}

export const SEED000_PONG = wsTextFrameOf('{"action":"pong"}');

/** What the translation needs to know about the connection. */
export interface DialectContext {
  readonly userId: string;
  readonly seed000Channel: string;
  /** True once this connection joined the seed 000 channel. */
  readonly seed000Joined: boolean;
}

/** A decoded frame as native steps, run in order (the first error stops the rest), then `done` when all succeeded. */
export interface Translation {
  readonly steps: readonly Step[];
  /** A frame to send once every step succeeded (seed 000's pong). */
  readonly done?: Buffer;
}

export function translate(command: Command, c: DialectContext): Translation {
  switch (command.method) {
    case 'seed.send_to_room': {
      const { channel, payload } = command.params;
      return { steps: [{ command: { id: null, method: 'publish', params: { channel, event: 'chat_message', data: payloadJson({ ...payload, user_id: c.userId }) } } }] };
    }
    case 'seed.send_to_user': {
      const { userId, payload } = command.params;
      return { steps: [{ command: { id: null, method: 'send', params: { user: userId, event: 'direct_message', data: payloadJson({ ...payload, from_user_id: c.userId }) } } }] };
    }
    case 'seed.ping':
      return { steps: seed000Join(c), done: SEED000_PONG };
    case 'seed.chat': {
      const chat: Step = { command: { id: null, method: 'publish', params: { channel: c.seed000Channel, event: 'chat', data: command.params.data } }, meta: { seed000: true } };
      return { steps: [...seed000Join(c), chat] };
    }
    default:
      // Native commands, and seed 002's join_room / leave_room (decoded as subscribe / unsubscribe without an id).
      return { steps: [{ command }] };
  }
}

function seed000Join(c: DialectContext): Step[] {
  if (c.seed000Joined) return [];
  return [{ command: { id: null, method: 'subscribe', params: { channel: c.seed000Channel } }, join: true }];
}

/** JSON.stringify throws on payloads nested thousands deep; that is the client's error, not ours. */
function payloadJson(payload: Record<string, unknown>): string {
  try {
    return JSON.stringify(payload);
  } catch {
    throw new ReplyError(ErrorCode.BadRequest, '"payload" is nested too deeply');
  }
}
