import { wsTextFrameOf, type FrameFormat } from '../../delivery/encoded.js';
import { ErrorCode, type ErrorBody, type Member, type ServerPublication } from '../../protocol/index.js';
import { pusherChannelOf, pusherDataString } from '../../protocol/pusher-data.js';

/**
 * Pusher Channels protocol 7 frames: `{"event", "channel"?, "data"}`, where `data` of server events is JSON text
 * (a string holding JSON), except in `pusher:error` and `pusher:subscription_error`.
 */

/** A publication as a Pusher event, built once per publication (EncodedPublication.frameIn). */
export const PUSHER_FORMAT: FrameFormat = {
  name: 'pusher',
  build: (p: ServerPublication) => wsTextFrameOf(pusherEventJson(p.event, pusherChannelOf(p.channel), pusherDataString(p.data))),
};

export function pusherEventJson(event: string, channel: string | undefined, data: string): string {
  return '{"event":' + JSON.stringify(event) + (channel === undefined ? '' : ',"channel":' + JSON.stringify(channel)) + ',"data":' + JSON.stringify(data) + '}';
}

export function connectionEstablishedJson(socketId: string, activityTimeoutSeconds: number): string {
  return pusherEventJson('pusher:connection_established', undefined, JSON.stringify({ socket_id: socketId, activity_timeout: activityTimeoutSeconds }));
}

export const PUSHER_PONG = pusherEventJson('pusher:pong', undefined, '{}');

/**
 * Pusher's error codes for `pusher:error` (protocol 7): 4000-4099 the client must not reconnect, 4100-4199 it
 * reconnects after a back-off, 4200-4299 at once. Command errors have code null.
 */
export const PusherCodes = {
  /** The connection was refused over a limit; the client reconnects after a back-off. */
  OverCapacity: 4100,
  /** Generic: reconnect at once (Switchboard is shutting down or dropped the connection as slow). */
  Reconnect: 4200,
  /** The client events rate was exceeded. */
  ClientEventRateLimited: 4301,
} as const;

/** A command error: `pusher:error` with code null and the message (Switchboard's code in `switchboard_code`). */
export function pusherErrorJson(error: ErrorBody): string {
  const code = error.code === ErrorCode.TooManyRequests ? PusherCodes.ClientEventRateLimited : null;
  return JSON.stringify({ event: 'pusher:error', data: { code, message: error.message, switchboard_code: error.code } });
}

/** A refused subscription, on its channel (pusher-js emits it on the channel as `pusher:subscription_error`). */
export function pusherSubscriptionErrorJson(channel: string, error: ErrorBody): string {
  const status = error.code === ErrorCode.Unauthorized ? 401 : error.code === ErrorCode.PermissionDenied ? 403 : 400;
  return JSON.stringify({ event: 'pusher:subscription_error', channel: pusherChannelOf(channel), data: { type: 'AuthError', error: error.message, status, switchboard_code: error.code } });
}

/** `pusher_internal:subscription_succeeded`; for a presence channel with its members (one per user). */
export function subscriptionSucceededJson(channel: string, members?: ReadonlyMap<string, unknown>): string {
  if (members === undefined) return pusherEventJson('pusher_internal:subscription_succeeded', pusherChannelOf(channel), '{}');
  const hash: Record<string, unknown> = {};
  for (const [id, info] of members) hash[id] = info ?? {};
  const presence = { ids: [...members.keys()], hash, count: members.size };
  return pusherEventJson('pusher_internal:subscription_succeeded', pusherChannelOf(channel), JSON.stringify({ presence }));
}

export function memberAddedJson(channel: string, m: Member): string {
  return pusherEventJson('pusher_internal:member_added', pusherChannelOf(channel), JSON.stringify({ user_id: m.user, user_info: m.info ?? {} }));
}

export function memberRemovedJson(channel: string, user: string): string {
  return pusherEventJson('pusher_internal:member_removed', pusherChannelOf(channel), JSON.stringify({ user_id: user }));
}

export function signinSuccessJson(userData: string): string {
  return JSON.stringify({ event: 'pusher:signin_success', data: { user_data: userData } });
}
