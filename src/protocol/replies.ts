import type { CommandId } from './commands.js';
import type { ErrorBody } from './errors.js';

/** The reply to a command with an id: `{"id", "result"}`. */
export function resultJson(id: CommandId, result: unknown): string {
  return '{"id":' + JSON.stringify(id) + ',"result":' + JSON.stringify(result ?? {}) + '}';
}

/** The reply to `rpc`: `{"id", "result": {"data"}}`, `data` being the backend's JSON text as it came. */
export function rpcReplyJson(id: CommandId, data: string): string {
  return '{"id":' + JSON.stringify(id) + ',"result":{"data":' + data + '}}';
}

/**
 * An error reply of the native protocol: `{"id", "error": {"code", "message"}}` (`id` null when the frame had none
 * or it was unreadable). Other vocabularies answer in their own shape (src/session/dialects/).
 */
export function errorJson(id: CommandId, error: ErrorBody): string {
  return JSON.stringify({ id, error: { code: error.code, message: error.message } });
}
