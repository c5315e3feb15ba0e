import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { ClientAddress, looksForwarded, normalizeAddress, parseTrusted } from '../../src/core/client-address.js';
import { loadConfig } from '../../src/config/index.js';

/** Just what ClientAddress reads from a request: the socket's peer and the headers. */
const req = (peer: string, headers: Record<string, string | string[]> = {}) =>
  ({ socket: { remoteAddress: peer }, headers }) as unknown as IncomingMessage;

describe('client address behind proxies', () => {
  it('parses addresses and CIDR ranges, and refuses anything else', () => {
    assert.deepEqual(parseTrusted('10.0.0.0/8'), { address: '10.0.0.0', prefix: 8, family: 'ipv4' });
    assert.deepEqual(parseTrusted(' ::1 '), { address: '::1', family: 'ipv6' });
    assert.deepEqual(parseTrusted('fd00::/8'), { address: 'fd00::', prefix: 8, family: 'ipv6' });
    for (const bad of ['', 'proxy.local', '10.0.0.0/33', '::/129', '10.0.0.1/8/1', '10.0.0.0/x', '1.2.3']) assert.equal(parseTrusted(bad), undefined, bad);
    assert.equal(normalizeAddress('::ffff:10.1.2.3'), '10.1.2.3');
    assert.equal(normalizeAddress('::ffff:zz'), '::ffff:zz');
  });

  it('without trusted proxies the peer is the client, whatever the headers say', () => {
    const ca = new ClientAddress([]);
    assert.equal(ca.of(req('203.0.113.7', { 'x-forwarded-for': '198.51.100.1' })), '203.0.113.7');
    assert.equal(ca.viaTrustedProxy(req('127.0.0.1')), false);
  });

  it('behind trusted proxies: the rightmost address that is not a trusted proxy', () => {
    const ca = new ClientAddress(['10.0.0.0/8', '127.0.0.1']);
    // client → proxy 10.0.0.5 → proxy 10.0.0.6 → us
    assert.equal(ca.of(req('10.0.0.6', { 'x-forwarded-for': '198.51.100.1, 10.0.0.5' })), '198.51.100.1');
    // A client that writes its own X-Forwarded-For cannot choose its address: the proxy appends the real one.
    assert.equal(ca.of(req('10.0.0.6', { 'x-forwarded-for': '1.1.1.1, 198.51.100.1' })), '198.51.100.1');
    // Several header lines count as one list.
    assert.equal(ca.of(req('::ffff:10.0.0.6', { 'x-forwarded-for': ['192.0.2.9', '10.0.0.5'] })), '192.0.2.9');
    // An untrusted peer's header is ignored.
    assert.equal(ca.of(req('198.51.100.1', { 'x-forwarded-for': '10.0.0.9' })), '198.51.100.1');
    // Garbage stops the walk at the last readable hop; no header means the proxy itself is the client.
    assert.equal(ca.of(req('10.0.0.6', { 'x-forwarded-for': 'garbage, 10.0.0.5' })), '10.0.0.5');
    assert.equal(ca.of(req('10.0.0.6')), '10.0.0.6');
    // Only trusted hops: the leftmost one.
    assert.equal(ca.of(req('127.0.0.1', { 'x-forwarded-for': '10.0.0.1, 10.0.0.2' })), '10.0.0.1');
    assert.equal(ca.viaTrustedProxy(req('10.9.9.9')), true);
    assert.equal(ca.viaTrustedProxy(req('11.0.0.1')), false);
  });

  it('knows a forwarded request by its headers', () => {
    assert.equal(looksForwarded(req('127.0.0.1')), false);
    for (const h of ['x-forwarded-for', 'forwarded', 'x-real-ip']) assert.equal(looksForwarded(req('127.0.0.1', { [h]: 'x' })), true, h);
  });

  it('the config refuses an entry that is not an address or range, naming it', () => {
    assert.deepEqual(loadConfig({ argv: ['--proxy.trusted', '10.0.0.0/8,::1'] }).proxy.trusted, ['10.0.0.0/8', '::1']);
    assert.throws(() => loadConfig({ argv: ['--proxy.trusted', '10.0.0.0/8,lb.internal'] }), /config option "proxy\.trusted" \(from flag --proxy\.trusted\): expected a list of IP addresses or CIDR ranges/);
  });
});
