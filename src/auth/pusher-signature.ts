import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Pusher Channels signatures (HMAC-SHA256 with the app secret, hex): the channel authorizations and user sign-ins
 * an app's auth endpoint makes, and the signed HTTP API requests of the `pusher` server libraries. Pure functions:
 * the WebSocket adapter and the HTTP API both check with these.
 */
export interface PusherApp {
  readonly appId: string;
  readonly key: string;
  readonly secret: string;
}

export function hmacHex(secret: string, text: string): string {
  return createHmac('sha256', secret).update(text, 'utf8').digest('hex');
}

/** Constant-time comparison of two hex signatures (a wrong length is simply unequal). */
function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** `auth` is `key:signature`; true when the key is the app's and the signature is the secret's over `text`. */
function authValid(app: PusherApp, auth: unknown, text: string): boolean {
  if (typeof auth !== 'string') return false;
  const i = auth.indexOf(':');
  if (i < 0 || auth.slice(0, i) !== app.key) return false;
  return sameHex(auth.slice(i + 1), hmacHex(app.secret, text));
}

/** A private or presence channel's authorization: HMAC of `socket_id:channel` (presence: `:channel_data` after). */
export function channelAuthValid(app: PusherApp, socketId: string, channel: string, auth: unknown, channelData?: string): boolean {
  return authValid(app, auth, channelData === undefined ? `${socketId}:${channel}` : `${socketId}:${channel}:${channelData}`);
}

/** A user sign-in (`pusher:signin`): HMAC of `socket_id::user::user_data`. */
export function signinValid(app: PusherApp, socketId: string, auth: unknown, userData: string): boolean {
  return authValid(app, auth, `${socketId}::user::${userData}`);
}

/** Why a signed HTTP API request is refused, or undefined when it is valid. */
export type RequestRefusal = string | undefined;

/**
 * Pusher's HTTP API signature: `auth_signature` = HMAC of `METHOD\npath\nquery`, the query being every parameter
 * but `auth_signature`, keys lower-cased and sorted, `key=value` joined by `&` (values as sent, decoded). A body
 * must match `body_md5`; `auth_timestamp` (Unix seconds) must be within `windowMs` of `nowMs`.
 */
export function requestRefusal(app: PusherApp, method: string, path: string, query: URLSearchParams, body: Buffer, nowMs: number, windowMs: number): RequestRefusal {
  const params = new Map<string, string>();
  for (const [k, v] of query) params.set(k.toLowerCase(), v);
  const signature = params.get('auth_signature');
  if (signature === undefined) return 'auth_signature is missing';
  if (params.get('auth_key') !== app.key) return 'auth_key is not this app\'s key';
  if (params.get('auth_version') !== '1.0') return 'auth_version must be 1.0';
  const ts = Number(params.get('auth_timestamp'));
  if (!Number.isFinite(ts)) return 'auth_timestamp is missing';
  if (Math.abs(nowMs - ts * 1000) > windowMs) return `auth_timestamp is more than ${windowMs / 1000} s from the server's clock (pusher.timestampWindow)`;
  if (body.length > 0 && params.get('body_md5') !== createHash('md5').update(body).digest('hex')) return 'body_md5 does not match the body';
  params.delete('auth_signature');
  const text = [...params.keys()].sort().map((k) => `${k}=${params.get(k)}`).join('&');
  if (!sameHex(signature, hmacHex(app.secret, `${method}\n${path}\n${text}`))) return 'auth_signature is wrong';
  return undefined;
}
