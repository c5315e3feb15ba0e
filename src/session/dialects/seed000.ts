import { EncodedPublication } from '../../delivery/encoded.js';
import { CommandError, ErrorCode, jsonText, type CommandId, type ErrorBody } from '../../protocol/index.js';
import { isSeed000Chat, seed000ChatJson } from '../../protocol/seed000.js';
import type { Dialect, DialectContext, DialectJoin, Step, Translation } from './dialect.js';

/**
 * Seed 000 (`{"action", "data"}`, docs/protocol.md "Seed 000"): the first valid frame of a connection joins the
 * `compat.seed000Channel` channel (a native `subscribe`, tried again on the next frame while refused); `ping` is a
 * native `ping` answered `{"action":"pong"}`; `chat` is `publish` with event `chat` on that channel. No success
 * replies besides the pong; errors as `{"action":"error","data":{code, message}}`.
 */
export class Seed000Dialect implements Dialect, DialectJoin {
  readonly name = 'seed000';
  /** Seed 000 clients know no `caught_up` push. */
  readonly announcesCatchUp = false;
  /** True once this connection joined the seed 000 channel (or was subscribed to it already). */
  private isJoined = false;

  constructor(private readonly c: DialectContext) {}

  recognizes(frame: Record<string, unknown>): boolean {
    return 'action' in frame;
  }

  translate(frame: Record<string, unknown>): Translation {
    const action = frame.action;
    if (action === 'ping') return { steps: [...this.join(), { command: { id: null, method: 'ping', params: {} } }], reply: PONG };
    if (action === 'chat') {
      if (!('data' in frame)) throw new CommandError(ErrorCode.BadRequest, '"data" is required');
      const data = jsonText(frame.data, null);
      return { steps: [...this.join(), { command: { id: null, method: 'publish', params: { channel: this.c.seed000Channel, event: 'chat', data } } }] };
    }
    if (typeof action !== 'string') throw new CommandError(ErrorCode.BadRequest, '"action" must be a string');
    throw new CommandError(ErrorCode.UnknownMethod, `unknown action ${JSON.stringify(action.slice(0, 64))}`);
  }

  joined(): void {
    this.isJoined = true;
  }

  errorJson(_id: CommandId, error: ErrorBody): string {
    return JSON.stringify({ action: 'error', data: { code: error.code, message: error.message } });
  }

  private join(): Step[] {
    if (this.isJoined) return [];
    return [{ command: { id: null, method: 'subscribe', params: { channel: this.c.seed000Channel } }, join: this }];
  }
}

const PONG = '{"action":"pong"}';

/** The encodings of a seed 000 chat, built once per publication like the native ones (EncodedPublication). */
class Seed000Chat extends EncodedPublication {
  private chatJson: string | undefined;
  override get json(): string {
    return (this.chatJson ??= seed000ChatJson(this.pub));
  }
}

/** One Seed000Chat per publication, whatever the number of recipients; gone with the publication. */
const chats = new WeakMap<EncodedPublication, EncodedPublication>();

/**
 * The encodings to send for `enc`: itself, or for a seed 000 chat its seed 000 shape, built once per publication.
 * Costs a non-chat publication one string comparison per recipient.
 */
export function publicationShape(enc: EncodedPublication, seed000Channel: string): EncodedPublication {
  if (!isSeed000Chat(enc.pub, seed000Channel)) return enc;
  let chat = chats.get(enc);
  if (chat === undefined) chats.set(enc, (chat = new Seed000Chat(enc.pub)));
  return chat;
}
