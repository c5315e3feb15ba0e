import { wsTextFrameOf } from '../hub/encoded.js';
import { ErrorCode, ReplyError } from '../protocol/index.js';
import type { NodeServices } from './services.js';
import { checkPublishSize } from './permissions.js';

/**
 * The seeds' vocabularies, mapped onto native operations. Everything seed-specific lives here.
 *
 * Seed 002 (`{"type", "payload"}`): `join_room` / `leave_room` subscribe and unsubscribe the `room_id` channel;
 * `send_to_room` publishes event `chat_message` whose payload is the sender's payload with the server-set `user_id`;
 * `send_to_user` delivers event `direct_message` to every connection of `payload.user_id`, with the server-set
 * `from_user_id`. Seed 000 (`{"action", "data"}`): `ping` is answered `{"action":"pong"}`; `chat` is broadcast as
 * event `chat` on the `compat.seed000Channel` channel, which seed 000 clients join on their first frame.
 */
export const SEED000_PONG = wsTextFrameOf('{"action":"pong"}');

export async function seedSendToRoom(node: NodeServices, userId: string, channel: string, payload: Record<string, unknown>): Promise<void> {
  const data = payloadJson({ ...payload, user_id: userId });
  checkPublishSize(node, data);
  await node.publish(channel, 'chat_message', data);
}

export async function seedSendToUser(node: NodeServices, fromUser: string, toUser: string, payload: Record<string, unknown>): Promise<void> {
  await node.sendToUser(toUser, 'direct_message', payloadJson({ ...payload, from_user_id: fromUser }));
}

/** JSON.stringify throws on payloads nested thousands deep; that is the client's error, not ours. */
function payloadJson(payload: Record<string, unknown>): string {
  try {
    return JSON.stringify(payload);
  } catch {
    throw new ReplyError(ErrorCode.BadRequest, '"payload" is nested too deeply');
  }
}

export async function seedChat(node: NodeServices, data: string): Promise<void> {
  checkPublishSize(node, data);
  await node.publish(node.config.compat.seed000Channel, 'chat', data, { seed000: true });
}
