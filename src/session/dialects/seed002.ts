import { channelField, CommandError, ErrorCode, objectField, type CommandId, type ErrorBody } from '../../protocol/index.js';
import type { Dialect, DialectContext, Translation } from './dialect.js';

/**
 * Seed 002 (`{"type", "payload"}`, docs/protocol.md "Seed 002"): `join_room` / `leave_room` are `subscribe` /
 * `unsubscribe` of the `room_id` channel; `send_to_room` is `publish` with event `chat_message` whose data is the
 * sender's payload with the server-set `user_id`; `send_to_user` is `send` with event `direct_message` to
 * `payload.user_id`, the data carrying the server-set `from_user_id`. No success replies; errors as
 * `{"type":"error","payload":{code, message},"timestamp"}`. An `id` in the frame is ignored.
 */
export class Seed002Dialect implements Dialect {
  readonly name = 'seed002';
  /** Seed 002 clients know no `caught_up` push. */
  readonly announcesCatchUp = false;

  constructor(private readonly c: DialectContext) {}

  recognizes(frame: Record<string, unknown>): boolean {
    return 'type' in frame;
  }

  translate(frame: Record<string, unknown>): Translation {
    const type = frame.type;
    if (typeof type !== 'string') throw new CommandError(ErrorCode.BadRequest, '"type" must be a string');
    const payload = objectField(frame, 'payload', null);
    const room = () => channelField(payload, 'room_id', null, this.c.limits);
    switch (type) {
      case 'join_room':
        return { steps: [{ command: { id: null, method: 'subscribe', params: { channel: room() } } }] };
      case 'leave_room':
        return { steps: [{ command: { id: null, method: 'unsubscribe', params: { channel: room() } } }] };
      case 'send_to_room': {
        const channel = room();
        const data = payloadJson({ ...payload, user_id: this.c.userId });
        return { steps: [{ command: { id: null, method: 'publish', params: { channel, event: 'chat_message', data } } }] };
      }
      case 'send_to_user': {
        const user = payload.user_id;
        if (typeof user !== 'string' || user.length === 0 || user.length > 255) {
          throw new CommandError(ErrorCode.BadRequest, '"payload.user_id" must be a non-empty string');
        }
        const data = payloadJson({ ...payload, from_user_id: this.c.userId });
        return { steps: [{ command: { id: null, method: 'send', params: { user, event: 'direct_message', data } } }] };
      }
      default:
        throw new CommandError(ErrorCode.UnknownMethod, `unknown type ${JSON.stringify(type.slice(0, 64))}`);
    }
  }

  errorJson(_id: CommandId, error: ErrorBody): string {
    return JSON.stringify({ type: 'error', payload: { code: error.code, message: error.message }, timestamp: new Date().toISOString() });
  }
}

/** JSON.stringify throws on payloads nested thousands deep; that is the client's error, not ours. */
function payloadJson(payload: Record<string, unknown>): string {
  try {
    return JSON.stringify(payload);
  } catch {
    throw new CommandError(ErrorCode.BadRequest, '"payload" is nested too deeply');
  }
}
