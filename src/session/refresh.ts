import type { Identity } from '../auth/identity.js';
import { ErrorCode, ReplyError } from '../protocol/index.js';
import type { NodeServices } from './services.js';
import type { Subscription } from './subscription.js';
import { verifySubscriptionToken } from './permissions.js';

/**
 * A fresh connection token before the current one expires (the `refresh` command without a channel): the same user
 * is required. Returns the identity the connection has from now on (its `info` kept from the connect).
 */
export async function refreshedIdentity(node: Pick<NodeServices, 'authenticator'>, current: Identity, token: string): Promise<Identity> {
  const refresh = node.authenticator.refresh;
  if (!refresh) throw new ReplyError(ErrorCode.FeatureDisabled, 'this server has no token authentication');
  const r = await refresh.call(node.authenticator, token);
  if (!r.ok) {
    const code = r.code === 'token_expired' ? ErrorCode.TokenExpired : r.code === 'unavailable' ? ErrorCode.Unavailable : ErrorCode.Unauthorized;
    throw new ReplyError(code, r.message);
  }
  if (r.identity.userId !== current.userId) throw new ReplyError(ErrorCode.PermissionDenied, 'the token is for another user');
  return { ...r.identity, info: current.info };
}

/** Subscriptions that only the old token's `channels` claim allowed, and the refreshed identity no longer grants. */
export function claimsLost(subscriptions: Iterable<Subscription>, identity: Identity): Subscription[] {
  const lost: Subscription[] = [];
  for (const sub of subscriptions) if (sub.grantedBy === 'claim' && !identity.channels?.includes(sub.channel)) lost.push(sub);
  return lost;
}

/**
 * A fresh subscription token for a subscribed channel (`refresh` with `channel`): verified, then its expiry becomes
 * the subscription's. `current` answers the subscription the connection holds now (it may have gone meanwhile).
 */
export async function refreshSubscription(
  node: NodeServices,
  identity: Identity,
  channel: string,
  token: string,
  current: () => Subscription | undefined,
): Promise<Subscription> {
  const sub = current();
  if (!sub) throw new ReplyError(ErrorCode.NotSubscribed, `not subscribed to ${channel}`);
  if (sub.rules.subscribe !== 'token') throw new ReplyError(ErrorCode.BadRequest, `channel "${channel}" needs no subscription token`);
  const grant = await verifySubscriptionToken(node, identity, channel, token);
  if (current() !== sub) throw new ReplyError(ErrorCode.NotSubscribed, `not subscribed to ${channel}`);
  sub.grantedBy = 'token';
  sub.expiresAt = grant.expiresAt;
  return sub;
}
