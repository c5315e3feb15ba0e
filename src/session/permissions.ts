import type { Identity } from '../auth/identity.js';
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
 * May this identity subscribe to (and read presence and history of) the channel? `token` namespaces need the
 * channel in the connection token's `channels` claim, or a subscription token for this user and channel.
 */
export async function checkSubscribe(node: NodeServices, identity: Identity, channel: string, subscriptionToken?: string): Promise<ChannelRules> {
  const rules = rulesOf(node, channel);
  checkUserLimit(identity, channel);
  if (rules.subscribe === 'authenticated' && identity.anonymous) {
    throw new ReplyError(ErrorCode.PermissionDenied, `channel "${channel}" needs an authenticated user`);
  }
  if (rules.subscribe === 'token' && !identity.channels?.includes(channel)) {
    const verify = node.authenticator.verifySubscription;
    const ok = subscriptionToken !== undefined && verify !== undefined && (await verify.call(node.authenticator, subscriptionToken, identity.userId, channel));
    if (!ok) {
      throw new ReplyError(ErrorCode.PermissionDenied, `channel "${channel}" needs a subscription token for it (or the channel in the connection token's "channels" claim)`);
    }
  }
  return rules;
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

/** May this identity read presence or history of the channel? Subscribers may; others as for subscribing. */
export async function checkRead(node: NodeServices, identity: Identity, channel: string, subscribed: boolean): Promise<ChannelRules> {
  if (subscribed) return rulesOf(node, channel);
  return checkSubscribe(node, identity, channel);
}

/** May this identity send a message straight to another user's connections (`client.directMessages`)? */
export function checkDirectMessage(node: NodeServices, identity: Identity): void {
  const who = node.config.client.directMessages;
  if (who === 'off') throw new ReplyError(ErrorCode.PermissionDenied, 'clients may not send messages to users on this server (client.directMessages)');
  if (who === 'authenticated' && identity.anonymous) throw new ReplyError(ErrorCode.PermissionDenied, 'anonymous connections may not send messages to users (client.directMessages)');
}
