import type { Identity, SubscriptionGrant } from '../auth/identity.js';
import { channelUsers, type ChannelRules } from '../core/namespaces.js';
import { ErrorCode, ReplyError } from '../protocol/index.js';
import type { NodeServices } from './services.js';

/** The channel's rules, or `unknown_namespace`. */
export function rulesOf(node: NodeServices, channel: string): ChannelRules {
  const rules = node.namespaces.rules(channel);
  if (!rules) {
    const ns = channel.slice(0, channel.indexOf(':'));
    throw new ReplyError(ErrorCode.UnknownNamespace, `channel "${channel}" is in namespace "${ns}", which this server does not declare (namespaces)`);
  }
  return rules;
}

/** A user-limited channel (`inbox#alice`) is only for the users listed after its last `#`. */
function checkUserLimit(identity: Identity, channel: string): void {
  const users = channelUsers(channel);
  if (users && (identity.anonymous || !users.includes(identity.userId))) {
    throw new ReplyError(ErrorCode.PermissionDenied, `channel "${channel}" is limited to user(s) ${users.join(', ')}`);
  }
}

/**
 * What allowed a subscription, so it can be checked again when that changes: the namespace's rules (`open`), the
 * connection token's `channels` claim (`claim`: re-checked when the token is refreshed), or a subscription token
 * (`token`: it ends at the token's expiry unless refreshed).
 */
export interface SubscribeRight {
  readonly rules: ChannelRules;
  readonly by: 'open' | 'claim' | 'token';
  /** When the right ends (ms since the Unix epoch): a subscription token's expiry. */
  readonly expiresAt?: number;
}

/**
 * May this identity subscribe to (and read presence and history of) the channel? `token` namespaces need the
 * channel in the connection token's `channels` claim, or a subscription token for this user and channel.
 */
export async function checkSubscribe(node: NodeServices, identity: Identity, channel: string, subscriptionToken?: string): Promise<SubscribeRight> {
  const rules = rulesOf(node, channel);
  checkUserLimit(identity, channel);
  if (rules.subscribe === 'authenticated' && identity.anonymous) {
    throw new ReplyError(ErrorCode.PermissionDenied, `channel "${channel}" needs an authenticated user`);
  }
  if (rules.subscribe !== 'token') return { rules, by: 'open' };
  if (identity.channels?.includes(channel)) return { rules, by: 'claim' };
  const grant = await verifySubscriptionToken(node, identity, channel, subscriptionToken);
  return { rules, by: 'token', ...(grant.expiresAt !== undefined ? { expiresAt: grant.expiresAt } : {}) };
}

/** The grant of a subscription token for this user and channel, or `permission_denied`. */
export async function verifySubscriptionToken(node: NodeServices, identity: Identity, channel: string, token: string | undefined): Promise<SubscriptionGrant> {
  const verify = node.authenticator.verifySubscription;
  const grant = token !== undefined && verify !== undefined ? await verify.call(node.authenticator, token, identity.userId, channel) : undefined;
  if (!grant) {
    throw new ReplyError(ErrorCode.PermissionDenied, `channel "${channel}" needs a subscription token for it (or the channel in the connection token's "channels" claim)`);
  }
  return grant;
}

/** May this identity publish to the channel as a client (the server API always may)? */
export function checkPublish(node: NodeServices, identity: Identity, channel: string, subscribed: boolean): ChannelRules {
  const rules = rulesOf(node, channel);
  checkUserLimit(identity, channel);
  if (!rules.publish) throw new ReplyError(ErrorCode.PermissionDenied, `clients may not publish to channel "${channel}"`);
  if (identity.anonymous) throw new ReplyError(ErrorCode.PermissionDenied, 'anonymous connections may not publish');
  if (rules.subscribe === 'token' && !subscribed && !identity.channels?.includes(channel)) {
    throw new ReplyError(ErrorCode.PermissionDenied, `publishing to "${channel}" needs a subscription to it first`);
  }
  return rules;
}

/**
 * Is a client's publication small enough (`client.maxPublishSize`, bytes of its data as UTF-8 JSON text)? Every client
 * publish passes here (native `publish` and the seed dialects), so one client cannot fill retained history with a few
 * huge publications; the server API has its own bound (`api.maxBodySize`).
 */
export function checkPublishSize(node: NodeServices, data: string): void {
  const max = node.config.client.maxPublishSize;
  // A UTF-16 unit is 1 to 3 UTF-8 bytes: the exact count is only needed between length and 3 x length.
  if (data.length * 3 <= max) return;
  if (data.length <= max && Buffer.byteLength(data) <= max) return;
  throw new ReplyError(ErrorCode.MessageTooLarge, `publication data exceeds client.maxPublishSize (${max} bytes)`);
}

/** May this identity read presence or history of the channel? Subscribers may; others as for subscribing. */
export async function checkRead(node: NodeServices, identity: Identity, channel: string, subscribed: boolean): Promise<ChannelRules> {
  if (subscribed) return rulesOf(node, channel);
  return (await checkSubscribe(node, identity, channel)).rules;
}

/** May this identity send a message straight to another user's connections (`client.directMessages`)? */
export function checkDirectMessage(node: NodeServices, identity: Identity): void {
  const who = node.config.client.directMessages;
  if (who === 'off') throw new ReplyError(ErrorCode.PermissionDenied, 'clients may not send messages to users on this server (client.directMessages)');
  if (who === 'authenticated' && identity.anonymous) throw new ReplyError(ErrorCode.PermissionDenied, 'anonymous connections may not send messages to users (client.directMessages)');
}
