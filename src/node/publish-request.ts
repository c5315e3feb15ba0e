import type { PublishRequest } from '../broker/broker.js';
import type { Config } from '../config/index.js';
import type { ChannelRules } from '../core/namespaces.js';
import type { PublicationMeta } from '../protocol/index.js';
import { checkKeyedPublish, type KeyedWrite } from '../session/keyed.js';

/**
 * The broker request of one publish from every entry point (API, WebSocket, dialects, embed API): the channel's
 * history bounds, a keyed channel's key and op (`invalid_key` when missing or not allowed; a delete stores `null`),
 * and the idempotency key with its window, which the broker checks atomically with the publish.
 */
export function publishRequest(
  config: Config,
  rules: ChannelRules,
  channel: string,
  event: string,
  data: string,
  meta: PublicationMeta | undefined,
  write: KeyedWrite | undefined,
  idempotencyKey: string | undefined,
): PublishRequest {
  const keyed = checkKeyedPublish(config, rules, channel, write);
  const windowMs = config.publish.idempotencyWindow;
  const idempotency = idempotencyKey !== undefined && windowMs > 0 ? { key: idempotencyKey, windowMs } : undefined;
  return { channel, event, data: write?.op === 'delete' ? 'null' : data, meta, history: rules.history, ...keyed, ...(idempotency ? { idempotency } : {}) };
}
