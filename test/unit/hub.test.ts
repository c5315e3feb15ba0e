/**
 * The node-local index (hub/hub.ts) on its own: who is connected by id, user and transport, who is subscribed to
 * which channel, and what fan-out, member events, direct messages and user disconnects reach. Recording subscribers
 * stand in for sessions; the transports are covered by the integration tests.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Hub, type ChannelSubscription, type ConnectionView, type DeliverySampler, type Subscriber, type WriteWatch } from '../../src/hub/hub.js';
import type { EncodedPublication } from '../../src/delivery/encoded.js';
import type { Disconnect, ServerPublication } from '../../src/protocol/index.js';

class Conn implements Subscriber {
  readonly got: string[] = [];
  readonly pubs: EncodedPublication[] = [];
  disconnected: Disconnect | undefined;
  constructor(
    readonly id: string,
    readonly userId: string,
    readonly transport = 'websocket',
  ) {}
  deliverDirect(event: string, json: string): void {
    this.got.push(`direct ${event} ${json}`);
  }
  deliverMemberEvent(channel: string, event: string, json: string): void {
    this.got.push(`${event} ${channel} ${json}`);
  }
  disconnect(d: Disconnect): void {
    this.disconnected = d;
  }
  watchWrite(_watch: WriteWatch): void {}
  view(): ConnectionView {
    return { client: this.id, user: this.userId, transport: this.transport, ip: '127.0.0.1', since: 0, channels: [] };
  }
  /** A subscription of this connection that records what it is delivered. */
  sub(): ChannelSubscription {
    return { subscriber: this, deliver: (enc) => this.pubs.push(enc) };
  }
}

const pub = (channel: string, offset: number): ServerPublication => ({
  channel,
  event: 'message',
  data: `{"n":${offset}}`,
  epoch: 'e',
  offset,
  time: 0,
  meta: undefined,
  key: undefined,
  op: undefined,
});

describe('hub', () => {
  it('indexes connections by id, user and transport; unregister is idempotent', () => {
    const hub = new Hub();
    const a1 = new Conn('a1', 'alice');
    const a2 = new Conn('a2', 'alice', 'sse');
    const b = new Conn('b', 'bob');
    for (const c of [a1, a2, b]) hub.register(c);
    assert.deepEqual(hub.stats(), { connections: 3, connectionsByTransport: { websocket: 2, sse: 1 }, users: 2, channels: 0, subscriptions: 0 });
    assert.deepEqual(hub.userIds().sort(), ['alice', 'bob']);
    assert.equal(hub.connectionsOf('alice'), 2);
    assert.equal(hub.connectionsOf('nobody'), 0);
    assert.deepEqual(hub.all().map((c) => c.id).sort(), ['a1', 'a2', 'b']);
    hub.unregister(a1);
    hub.unregister(a1);
    assert.deepEqual(hub.stats(), { connections: 2, connectionsByTransport: { websocket: 1, sse: 1 }, users: 2, channels: 0, subscriptions: 0 });
    hub.unregister(b);
    assert.deepEqual(hub.userIds(), ['alice'], 'a user without connections is gone');
    assert.equal(hub.connectionsOf('bob'), 0);
  });

  it('says when a channel gets its first and loses its last local subscriber', () => {
    const hub = new Hub();
    const a = new Conn('a', 'u');
    const b = new Conn('b', 'u');
    const sa = a.sub();
    const sb = b.sub();
    assert.equal(hub.addSubscription('ch', sa), true, 'first: the node must subscribe the broker');
    assert.equal(hub.addSubscription('ch', sb), false);
    assert.equal(hub.addSubscription('ch', sb), false, 'again: not counted twice');
    assert.equal(hub.subscriberCount('ch'), 2);
    assert.deepEqual(hub.channelList(), [{ channel: 'ch', subscribers: 2 }]);
    assert.deepEqual([hub.stats().channels, hub.stats().subscriptions], [1, 2]);
    assert.equal(hub.removeSubscription('ch', sa), false, 'one left');
    assert.equal(hub.removeSubscription('ch', sa), false, 'already removed');
    assert.equal(hub.removeSubscription('other', sa), false, 'unknown channel');
    assert.equal(hub.removeSubscription('ch', sb), true, 'last: the node may unsubscribe the broker');
    assert.equal(hub.subscriberCount('ch'), 0);
    assert.deepEqual(hub.channelList(), []);
    assert.deepEqual([hub.stats().channels, hub.stats().subscriptions], [0, 0]);
  });

  it('fans a publication out to its channel only, as one shared encoding', () => {
    const hub = new Hub();
    const conns = [new Conn('a', 'u'), new Conn('b', 'u'), new Conn('c', 'v')];
    for (const c of conns) hub.addSubscription('ch', c.sub());
    const other = new Conn('o', 'w');
    hub.addSubscription('elsewhere', other.sub());
    assert.equal(hub.publish(pub('ch', 1)), 3);
    assert.equal(hub.publish(pub('none', 1)), 0);
    assert.deepEqual(conns.map((c) => c.pubs.map((e) => e.pub.offset)), [[1], [1], [1]]);
    assert.ok(conns.every((c) => c.pubs[0] === conns[0]!.pubs[0]), 'the same EncodedPublication for every recipient');
    assert.deepEqual(other.pubs, []);
  });

  it('reports every k-th recipient to its DeliverySampler, at most `max` of them', () => {
    const hub = new Hub();
    const conns = Array.from({ length: 10 }, (_, i) => new Conn(`c${i}`, 'u'));
    for (const c of conns) hub.addSubscription('ch', c.sub());
    const sampled = (stride: number, max = 0): { ids: string[]; sizes: number[] } => {
      const ids: string[] = [];
      const sizes: number[] = [];
      const sampler: DeliverySampler = {
        stride,
        max,
        sampled: (s, size) => {
          ids.push(s.id);
          sizes.push(size);
        },
      };
      const n = hub.publish(pub('ch', 1), sampler);
      assert.equal(n, 10, 'sampling never changes who is delivered to');
      return { ids, sizes };
    };
    const all = sampled(1);
    assert.deepEqual(all.ids, conns.map((c) => c.id), 'stride 1: every recipient, in delivery order');
    assert.ok(all.sizes.every((s) => s === all.sizes[0] && s > 0), 'the JSON size of the publication');
    const firsts = new Set<number>();
    for (let run = 0; run < 20; run++) {
      const { ids } = sampled(3);
      const at = ids.map((id) => Number(id.slice(1)));
      firsts.add(at[0]!);
      assert.ok(at.length === 3 || at.length === 4, `10 recipients, stride 3: ${at}`);
      assert.ok(at[0]! < 3, `the first sample is among the first 3: ${at}`);
      for (let i = 1; i < at.length; i++) assert.equal(at[i]! - at[i - 1]!, 3, `then every 3rd: ${at}`);
    }
    // A random first one, so that the same connections are not always the traced ones ((1/3)^19 odds of a false alarm).
    assert.ok(firsts.size > 1, `the first sample varies between publications: ${[...firsts]}`);
    assert.equal(sampled(1, 2).ids.length, 2, 'max caps them');
    assert.equal(sampled(0).ids.length, 0, 'stride 0: none');
    assert.equal(hub.publish(pub('ch', 1)), 10, 'no sampler (tracing off): delivered, nothing reported');
    assert.ok(conns.every((c) => c.pubs.length === 24), 'everyone got every publication (24)');
  });

  it('sends member events to the channel except the member, direct messages and disconnects to a user', () => {
    const hub = new Hub();
    const a = new Conn('a', 'alice');
    const a2 = new Conn('a2', 'alice');
    const b = new Conn('b', 'bob');
    for (const c of [a, a2, b]) {
      hub.register(c);
      hub.addSubscription('room', c.sub());
    }
    hub.memberEvent('room', 'join', '{"j":1}', 'a');
    hub.memberEvent('nowhere', 'join', '{"j":2}');
    assert.deepEqual([a.got, a2.got, b.got], [[], ['join room {"j":1}'], ['join room {"j":1}']]);
    assert.equal(hub.sendToUser('alice', 'hi', '{"x":1}'), 2);
    assert.equal(hub.sendToUser('nobody', 'hi', '{}'), 0);
    assert.deepEqual([a.got, a2.got.at(-1), b.got.length], [['direct hi {"x":1}'], 'direct hi {"x":1}', 1]);
    const d: Disconnect = { code: 4003, reason: 'bye', reconnect: false };
    assert.equal(hub.disconnectUser('alice', d), 2);
    assert.equal(hub.disconnectUser('nobody', d), 0);
    assert.deepEqual([a.disconnected, a2.disconnected, b.disconnected], [d, d, undefined]);
  });

  it("keeps a user's connections right as they go from one to several and back (one is held without a Set)", () => {
    const hub = new Hub();
    const a1 = new Conn('a1', 'alice');
    const a2 = new Conn('a2', 'alice');
    hub.register(a1);
    hub.register(a1);
    assert.equal(hub.connectionsOf('alice'), 1, 'registered twice, counted once');
    assert.equal(hub.sendToUser('alice', 'one', '{}'), 1);
    hub.register(a2);
    assert.deepEqual(hub.connectionsOfUser('alice').map((c) => c.id).sort(), ['a1', 'a2']);
    hub.unregister(a1);
    assert.equal(hub.connectionsOf('alice'), 1);
    assert.equal(hub.sendToUser('alice', 'two', '{}'), 1);
    assert.deepEqual([a1.got, a2.got], [['direct one {}'], ['direct two {}']]);
    hub.register(a1);
    assert.equal(hub.sendToUser('alice', 'three', '{}'), 2);
    hub.unregister(a2);
    hub.unregister(a1);
    assert.deepEqual([hub.userIds(), hub.connectionsOf('alice'), hub.connectionsOfUser('alice')], [[], 0, []]);
    assert.equal(hub.sendToUser('alice', 'four', '{}'), 0);
  });

  it('disconnects every connection of a user even when each one unregisters while being disconnected', () => {
    const hub = new Hub();
    const conns = [new Conn('a', 'alice'), new Conn('b', 'alice'), new Conn('c', 'alice')];
    for (const c of conns) {
      c.disconnect = (d) => {
        c.disconnected = d;
        hub.unregister(c); // what a session's cleanup does
      };
      hub.register(c);
    }
    assert.equal(hub.disconnectUser('alice', { code: 4003, reason: 'x', reconnect: false }), 3);
    assert.ok(conns.every((c) => c.disconnected !== undefined));
    assert.equal(hub.connectionsOf('alice'), 0);
  });
});
