/**
 * The address of the client behind a connection. Directly connected, it is the socket's peer. Behind reverse proxies
 * or load balancers that the operator lists as trusted (`proxy.trusted`: addresses and CIDR ranges), it is read from
 * `X-Forwarded-For`: walking the list from the right (the hop nearest to us), trusted proxies are skipped, and the
 * first address that is not one is the client. Entries left of it were written by the client itself and are never
 * believed, so a client cannot pick the address its per-IP limits are counted under. The peer of a connection that
 * does not come from a trusted proxy is used as it is, whatever headers it sends.
 */
import { BlockList, isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';

/** Hops read from the right of X-Forwarded-For at most; a longer chain is cut (the header is client-controlled). */
const MAX_HOPS = 32;

/** `::ffff:1.2.3.4` (an IPv4 client on a dual-stack socket) is `1.2.3.4`. */
export function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/** An address (`10.0.0.1`, `::1`) or a CIDR range (`10.0.0.0/8`, `fd00::/8`); undefined when it is neither. */
export function parseTrusted(entry: string): { address: string; prefix?: number; family: 'ipv4' | 'ipv6' } | undefined {
  const [address = '', prefixText, extra] = entry.trim().split('/');
  const version = isIP(address);
  if (version === 0 || extra !== undefined) return undefined;
  const family = version === 4 ? 'ipv4' : 'ipv6';
  if (prefixText === undefined) return { address, family };
  const prefix = Number(prefixText);
  if (!/^\d{1,3}$/.test(prefixText) || prefix > (version === 4 ? 32 : 128)) return undefined;
  return { address, prefix, family };
}

export class ClientAddress {
  private readonly trusted = new BlockList();
  private readonly any: boolean;

  /** `trusted` entries must be valid (the config schema checks them with `parseTrusted`). */
  constructor(trusted: readonly string[]) {
    for (const entry of trusted) {
      const t = parseTrusted(entry);
      if (!t) throw new Error(`proxy.trusted: "${entry}" is not an IP address or CIDR range`);
      if (t.prefix === undefined) this.trusted.addAddress(t.address, t.family);
      else this.trusted.addSubnet(t.address, t.prefix, t.family);
    }
    this.any = trusted.length > 0;
  }

  /** The socket's peer, normalized. */
  peer(req: IncomingMessage): string {
    return normalizeAddress(req.socket.remoteAddress ?? '');
  }

  /** Whether the request came through a trusted proxy (its peer is one). */
  viaTrustedProxy(req: IncomingMessage): boolean {
    return this.any && this.isTrusted(this.peer(req));
  }

  /** The client's address: the peer, or from X-Forwarded-For when the peer is a trusted proxy. */
  of(req: IncomingMessage): string {
    const peer = this.peer(req);
    if (!this.any || !this.isTrusted(peer)) return peer;
    const header = req.headers['x-forwarded-for'];
    const hops = (Array.isArray(header) ? header.join(',') : header ?? '').split(',');
    let client = peer;
    for (let i = hops.length - 1, n = 0; i >= 0 && n < MAX_HOPS; i--, n++) {
      const hop = normalizeAddress(hops[i]!.trim());
      if (isIP(hop) === 0) break; // garbage: stop at the last address we could read
      client = hop;
      if (!this.isTrusted(hop)) break;
    }
    return client;
  }

  private isTrusted(address: string): boolean {
    const version = isIP(address);
    return version !== 0 && this.trusted.check(address, version === 4 ? 'ipv4' : 'ipv6');
  }
}

/** Whether a request says it was forwarded by a proxy (any of the usual headers). */
export function looksForwarded(req: IncomingMessage): boolean {
  const h = req.headers;
  return h['x-forwarded-for'] !== undefined || h.forwarded !== undefined || h['x-real-ip'] !== undefined;
}
