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

/**
 * Pusher's user channel `#server-to-user-{id}` (pusher-js subscribes to it after `pusher:signin`; the `pusher`
 * library's `sendToUser` publishes to it) is the native user-limited channel `pusher-user#{id}`: only a connection
 * whose user is `{id}` may subscribe to it (docs/security.md, `#` channels).
 */
const PUSHER_USER = '#server-to-user-';
const NATIVE_USER = 'pusher-user#';

export function nativeChannelOf(pusherChannel: string): string {
  return pusherChannel.startsWith(PUSHER_USER) ? NATIVE_USER + pusherChannel.slice(PUSHER_USER.length) : pusherChannel;
}

export function pusherChannelOf(nativeChannel: string): string {
  return nativeChannel.startsWith(NATIVE_USER) ? PUSHER_USER + nativeChannel.slice(NATIVE_USER.length) : nativeChannel;
}
