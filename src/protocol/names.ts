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
export const RESERVED_EVENTS: ReadonlySet<string> = new Set(['connected', 'disconnect', 'stream_error', 'ping', 'join', 'leave']);

export function isValidEvent(name: unknown): name is string {
  return typeof name === 'string' && EVENT_PATTERN.test(name) && !RESERVED_EVENTS.has(name);
}

/** W3C trace context `traceparent` (version-traceid-parentid-flags, lowercase hex). */
export const TRACEPARENT_PATTERN = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

export const EVENT_RULE = '1-64 characters of letters, digits and _-.:, and not one of the reserved names connected, disconnect, stream_error, ping, join, leave';
