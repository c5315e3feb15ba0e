/**
 * Publication data between Pusher and Switchboard (pure, shared by the Pusher HTTP API and the Pusher session):
 * Pusher carries `data` as a string, Switchboard as JSON text.
 */

/** A publication's data as Pusher carries it: a JSON string as that string, any other JSON value as its text. */
export function pusherDataString(data: string): string {
  return data.charCodeAt(0) === 0x22 /* " */ ? (JSON.parse(data) as string) : data;
}

/**
 * Data from a Pusher publisher (the `pusher` server library sends a string, usually JSON text) as the JSON text a
 * native publication holds: JSON text is kept as the value it encodes (native clients get the object), any other
 * string becomes a JSON string.
 */
export function pusherDataJson(data: string): string {
  try {
    JSON.parse(data);
    return data;
  } catch {
    return JSON.stringify(data);
  }
}

/** Pusher channel names (protocol 7): 1-164 of `A-Z a-z 0-9 _ - = @ , . ;`. No `:`, so no app can name a namespace. */
export const PUSHER_CHANNEL = /^[A-Za-z0-9_\-=@,.;]{1,164}$/;

/** User ids a Pusher sign-in may name (those of native connections). */
export const PUSHER_USER_ID = /^[A-Za-z0-9_\-.:@]{1,128}$/;

/**
 * Pusher's user channel `#server-to-user-{id}` (pusher-js subscribes to it after `pusher:signin`; the `pusher`
 * library's `sendToUser` publishes to it) is the native user-limited channel `pusher-user#{user}`, `{user}` being
 * the native user of `{id}` (nativeUserOf): only a connection of that user may subscribe to it (docs/security.md,
 * `#` channels).
 */
const PUSHER_USER = '#server-to-user-';
const NATIVE_USER = 'pusher-user#';

/**
 * Several Pusher apps on one server (docs/compat.md) are kept apart by native namespaces: the channels of an app
 * with namespace `ns` are the native channels `ns:{channel}`, and its signed-in users the native users `ns:{id}`.
 * The app without a namespace (`pusher.appId`, or an app with `namespace: ""`) maps names one to one. As Pusher
 * channel names have no `:`, no app can name another app's channels; native clients reach them deliberately.
 */
export function nativeUserOf(namespace: string, id: string): string {
  return namespace === '' ? id : `${namespace}:${id}`;
}

/** The native channel an app's Pusher channel stands for; undefined when it is no Pusher channel name. */
export function nativeChannelOf(namespace: string, pusherChannel: string): string | undefined {
  const ns = namespace === '' ? '' : namespace + ':';
  if (pusherChannel.startsWith(PUSHER_USER)) {
    const id = pusherChannel.slice(PUSHER_USER.length);
    return PUSHER_USER_ID.test(id) ? ns + NATIVE_USER + nativeUserOf(namespace, id) : undefined;
  }
  return PUSHER_CHANNEL.test(pusherChannel) ? ns + pusherChannel : undefined;
}

/**
 * The app namespace of a native channel: the part before the first `:` when no `#` comes before it (a user id
 * after `#` may hold `:`), else `""`.
 */
export function appNamespaceOf(nativeChannel: string): string {
  const i = nativeChannel.indexOf(':');
  if (i <= 0) return '';
  const h = nativeChannel.indexOf('#');
  return h >= 0 && h < i ? '' : nativeChannel.slice(0, i);
}

/**
 * The Pusher name of a native channel (the inverse of nativeChannelOf, whatever the app: a publication's Pusher
 * frame is built once for the subscribers of every app, since a channel belongs to one app).
 */
export function pusherChannelOf(nativeChannel: string): string {
  const ns = appNamespaceOf(nativeChannel);
  const rest = ns === '' ? nativeChannel : nativeChannel.slice(ns.length + 1);
  if (!rest.startsWith(NATIVE_USER)) return rest;
  const user = rest.slice(NATIVE_USER.length);
  return PUSHER_USER + (ns !== '' && user.startsWith(ns + ':') ? user.slice(ns.length + 1) : user);
}
