/**
 * Presence and history reads with the server API's checks, shared by `GET /api/presence` and the embed API
 * (`sb.presence`, `sb.history`): the same errors either way, and the node's timing and spans.
 */
import type { TraceContext } from '../core/trace-context.js';
import type { SwitchboardNode } from '../node.js';
import { ErrorCode, isValidChannel, ReplyError, unknownNamespace, type Member, type ServerPublication } from '../protocol/index.js';

type Reader = Pick<SwitchboardNode, 'config' | 'namespaces' | 'presence' | 'history'>;

/** The channel, or `invalid_channel` (as the API answers a bad `channel` parameter). */
export function validChannel(node: Pick<SwitchboardNode, 'config'>, channel: string): string {
  if (!isValidChannel(channel, node.config.channel.maxLength)) throw new ReplyError(ErrorCode.InvalidChannel, 'invalid channel name');
  return channel;
}

/** The channel's members; `unknown_namespace` or `feature_disabled` when its namespace has no presence. */
export function checkedPresence(node: Reader, channel: string, ctx?: TraceContext): Promise<Member[]> {
  const rules = node.namespaces.rules(channel);
  if (!rules) throw unknownNamespace(channel);
  if (!rules.presence) throw new ReplyError(ErrorCode.FeatureDisabled, `presence is turned off for channel "${channel}"`);
  return node.presence(channel, ctx);
}

/**
 * The channel's kept publications, oldest first; with `limit`, the newest `limit` of them, still oldest first
 * (read newest first from the broker, then put back in order).
 */
export async function latestHistory(node: Reader, channel: string, limit: number | undefined, ctx?: TraceContext): Promise<ServerPublication[]> {
  if (limit === undefined) return (await node.history(channel, {}, ctx)).publications;
  if (!Number.isSafeInteger(limit) || limit < 0) throw new ReplyError(ErrorCode.BadRequest, '"limit" must be an integer of 0 or more');
  return (await node.history(channel, { limit, reverse: true }, ctx)).publications.slice().reverse();
}
