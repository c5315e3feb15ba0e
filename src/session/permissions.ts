import type { Identity, SubscriptionGrant } from '../auth/identity.js';
import type { ProxyCaller } from '../auth/proxy/channel-proxies.js';
import type { TraceContext } from '../core/trace-context.js';
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
 * connection token's `channels` claim (`claim`: re-checked when the token is refreshed), a subscription token
 * (`token`: it ends at the token's expiry unless refreshed), or the subscribe proxy (`proxy`, docs/proxy.md).
 */
export interface SubscribeRight {
  readonly rules: ChannelRules;
  readonly by: 'open' | 'claim' | 'token' | 'proxy';
  /** When the right ends (ms since the Unix epoch): a subscription token's expiry. */
  readonly expiresAt?: number;
  /** The subscribe proxy's `data` for the client (its subscribe reply carries it). */
  readonly data?: unknown;
}

/**
 * May this connection subscribe to (and read presence and history of) the channel? `token` namespaces need the
 * channel in the connection token's `channels` claim, or a subscription token for this user and channel. Then, when
 * the channel's namespace has a subscribe proxy (docs/proxy.md), the backend decides too: a proxy adds a check after
 * the namespace's own rules, it never loosens them. Channels granted at connect (`channels`) are not asked about.
 */
export async function checkSubscribe(
  node: NodeServices,
  who: ProxyCaller,
  channel: string,
  subscriptionToken?: string,
  trace?: TraceContext,
  /** The client's custom data (JSON text) for the subscribe proxy; ignored without one. */
  data?: string,
): Promise<SubscribeRight> {
  const identity = who.identity;
  const rules = rulesOf(node, channel);
  checkUserLimit(identity, channel);
  if (rules.subscribe === 'authenticated' && identity.anonymous) {
    throw new ReplyError(ErrorCode.PermissionDenied, `channel "${channel}" needs an authenticated user`);
  }
  const granted = identity.channels?.includes(channel) === true;
  if (rules.subscribe === 'token' && granted) return { rules, by: 'claim' };
  const right = await namespaceRight(node, identity, rules, channel, subscriptionToken);
  const url = rules.proxy.subscribe;
  if (url === undefined || granted) return right;
  if (data !== undefined) checkPublishSize(node, data);
  const answer = await node.proxies.subscribe(url, who, channel, trace, data);
  const proxied = right.by === 'open' ? { rules, by: 'proxy' as const } : right;
  return answer === undefined ? proxied : { ...proxied, data: answer };
}

/** What the namespace's `subscribe` rule grants: `open`, or a subscription token's grant in `token` namespaces. */
async function namespaceRight(node: NodeServices, identity: Identity, rules: ChannelRules, channel: string, subscriptionToken: string | undefined): Promise<SubscribeRight> {
  if (rules.subscribe !== 'token') return { rules, by: 'open' };
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

/**
 * May this connection publish `data` (JSON text) to the channel as a client (the server API always may)? Every
 * client publication passes here (native `publish` and the seed dialects' translations): the namespace's rules, the
 * size bound, then the namespace's publish proxy (docs/proxy.md) when it has one. Resolves to the data to publish:
 * the backend's replacement, or `data` itself.
 */
export async function checkPublish(node: NodeServices, who: ProxyCaller, channel: string, subscribed: boolean, event: string, data: string, trace?: TraceContext): Promise<string> {
  const identity = who.identity;
  const rules = rulesOf(node, channel);
  checkUserLimit(identity, channel);
  if (!rules.publish) throw new ReplyError(ErrorCode.PermissionDenied, `clients may not publish to channel "${channel}"`);
  if (identity.anonymous) throw new ReplyError(ErrorCode.PermissionDenied, 'anonymous connections may not publish');
  if (rules.subscribe === 'token' && !subscribed && !identity.channels?.includes(channel)) {
    throw new ReplyError(ErrorCode.PermissionDenied, `publishing to "${channel}" needs a subscription to it first`);
  }
  checkPublishSize(node, data);
  const url = rules.proxy.publish;
  return url === undefined ? data : node.proxies.publish(url, who, channel, event, data, trace);
}

/**
 * An `rpc` call (docs/proxy.md): the rpc proxy of the method's namespace (`chat:history` uses namespace `chat`'s,
 * a method without a prefix the default), with `data` (JSON text) bounded like a publication. Resolves to the
 * backend's reply data as JSON text.
 */
export async function callRpc(node: NodeServices, who: ProxyCaller, method: string, data: string, trace?: TraceContext): Promise<string> {
  const rules = node.namespaces.rules(method);
  if (!rules) {
    throw new ReplyError(ErrorCode.UnknownNamespace, `rpc method "${method}" is in namespace "${method.slice(0, method.indexOf(':'))}", which this server does not declare (namespaces)`);
  }
  const url = rules.proxy.rpc;
  if (url === undefined) throw new ReplyError(ErrorCode.FeatureDisabled, `no rpc proxy for method "${method}" (proxy.rpc.url, or its namespace's proxy.rpc)`);
  checkPublishSize(node, data);
  return node.proxies.rpc(url, who, method, data, trace);
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
export async function checkRead(node: NodeServices, who: ProxyCaller, channel: string, subscribed: boolean, trace?: TraceContext): Promise<ChannelRules> {
  if (subscribed) return rulesOf(node, channel);
  return (await checkSubscribe(node, who, channel, undefined, trace)).rules;
}

/** May this identity send a message straight to another user's connections (`client.directMessages`)? */
export function checkDirectMessage(node: NodeServices, identity: Identity): void {
  const who = node.config.client.directMessages;
  if (who === 'off') throw new ReplyError(ErrorCode.PermissionDenied, 'clients may not send messages to users on this server (client.directMessages)');
  if (who === 'authenticated' && identity.anonymous) throw new ReplyError(ErrorCode.PermissionDenied, 'anonymous connections may not send messages to users (client.directMessages)');
}
