import { isIPv4 } from 'node:net';

/**
 * Whether an IP address is this machine's: 127.0.0.0/8, ::1, or IPv4-mapped 127.x (`::ffff:127.0.0.1`). Only
 * address literals count, so `127.evil.example` (a valid host name) is not loopback.
 */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  if (address === '::1') return true;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return isIPv4(v4) && v4.startsWith('127.');
}

/**
 * Whether a host (a configured `host`, or a URL's `hostname`, where IPv6 comes in brackets) names this machine:
 * `localhost` or a loopback address.
 */
export function isLoopbackHost(host: string | undefined): boolean {
  if (!host) return false;
  if (host === 'localhost') return true;
  return isLoopbackAddress(host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host);
}
