import type { CommandId } from './commands.js';
import type { ErrorBody } from './errors.js';

/** The reply to a command with an id: `{"id", "result"}`. */
export function resultJson(id: CommandId, result: unknown): string {
  return '{"id":' + JSON.stringify(id) + ',"result":' + JSON.stringify(result ?? {}) + '}';
}

/**
 * An error reply of the native protocol: `{"id", "error": {"code", "message"}}` (`id` null when the frame had none
 * or it was unreadable). Other vocabularies answer in their own shape (src/session/dialects/).
 */
export function errorJson(id: CommandId, error: ErrorBody): string {
  return JSON.stringify({ id, error: { code: error.code, message: error.message } });
}
