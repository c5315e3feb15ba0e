/**
 * Channel and event names. Channels: 1..255 characters (configurable lower), letters, digits and `_ - . : # @ / = ,`
 * so namespaces (`chat:room1`) and user-limited channels (`inbox#alice`) fit. Events: 1..64 characters of letters,
 * digits and `_ - . :` so they are safe as SSE `event:` values.
 */
export const CHANNEL_PATTERN = /^[A-Za-z0-9_\-.:#@/=,]+$/;
export const EVENT_PATTERN = /^[A-Za-z0-9_\-.:]{1,64}$/;
export const DEFAULT_MAX_CHANNEL_LENGTH = 255;

export function isValidChannel(name: unknown, maxLength = DEFAULT_MAX_CHANNEL_LENGTH): name is string {
  return typeof name === 'string' && name.length > 0 && name.length <= maxLength && CHANNEL_PATTERN.test(name);
}

/**
 * Event names the server uses for its own SSE events and pushes. Publications may not use them, so an
 * `EventSource` listener for `connected` or `disconnect` never receives application data by mistake.
 */
export const RESERVED_EVENTS: ReadonlySet<string> = new Set(['connected', 'disconnect', 'stream_error', 'ping', 'join', 'leave', 'caught_up', 'skip']);

export function isValidEvent(name: unknown): name is string {
  return typeof name === 'string' && EVENT_PATTERN.test(name) && !RESERVED_EVENTS.has(name);
}

/** W3C trace context `traceparent` (version-traceid-parentid-flags, lowercase hex). */
export const TRACEPARENT_PATTERN = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

export const EVENT_RULE = '1-64 characters of letters, digits and _-.:, and not one of the reserved names connected, disconnect, stream_error, ping, join, leave, caught_up, skip';

/** Longest key of a keyed channel by default (`keyed.maxKeyLength`). */
export const DEFAULT_MAX_KEY_LENGTH = 256;
/** Control characters would corrupt logs and terminals; everything else (any language, `/`, spaces) is a fine key. */
const KEY_FORBIDDEN = /[\u0000-\u001f\u007f]/;

/** A keyed channel's key: 1..maxLength characters, no control characters. */
export function isValidKey(key: unknown, maxLength = DEFAULT_MAX_KEY_LENGTH): key is string {
  return typeof key === 'string' && key.length > 0 && key.length <= maxLength && !KEY_FORBIDDEN.test(key);
}

export const KEY_RULE = 'characters, none of them a control character';
