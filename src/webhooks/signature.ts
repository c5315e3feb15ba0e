/**
 * Webhook request signatures: `X-Switchboard-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>` with
 * `X-Switchboard-Timestamp: <unix seconds>`. Signing the timestamp with the body lets a receiver refuse a replayed
 * request (an old timestamp) as well as a forged one. docs/webhooks.md has a receiver that checks both.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-switchboard-signature';
export const TIMESTAMP_HEADER = 'x-switchboard-timestamp';

export function signBody(secret: string, timestamp: number, body: string): string {
  return 'v1=' + createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

/**
 * True when `signature` signs `body` at `timestamp` with `secret`, and the timestamp is within `toleranceSeconds`
 * (default 300) of `nowSeconds`. Compares in constant time.
 */
export function verifySignature(secret: string, timestamp: string | undefined, body: string, signature: string | undefined,
  toleranceSeconds = 300, nowSeconds = Math.floor(Date.now() / 1000)): boolean {
  if (!timestamp || !signature || !/^\d+$/.test(timestamp)) return false;
  if (Math.abs(nowSeconds - Number(timestamp)) > toleranceSeconds) return false;
  const expected = Buffer.from(signBody(secret, Number(timestamp), body));
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
