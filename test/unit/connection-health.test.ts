/**
 * The connection health state machine shared by the Redis command and subscriber connections, with a fake target:
 * a failed PING or a condemnation makes it unusable until a replacement connects; a late probe answer does not undo a
 * condemnation; a replacement that hangs fails after its timeout and the next check retries it. A connection that read
 * a reply within the window is slow, not frozen: a missed PING or deadline is counted, and it is kept.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectionHealth, type HealthTarget } from '../../src/broker/connection-health.js';
import { createServer, connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { MAX_EXTENSIONS, withDeadline } from '../../src/broker/deadline.js';
import { answeredWithin } from '../../src/broker/redis-connection.js';

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}
const tick = () => new Promise((r) => setImmediate(r));

class FakeTarget implements HealthTarget {
  probes: ReturnType<typeof deferred<boolean>>[] = [];
  replaces: ReturnType<typeof deferred<void>>[] = [];
  probe(): Promise<boolean> {
    const d = deferred<boolean>();
    this.probes.push(d);
    return d.promise;
  }
  replace(): Promise<void> {
    const d = deferred<void>();
    this.replaces.push(d);
    return d.promise;
  }
}

const silent = { warn: () => {} };

describe('ConnectionHealth', () => {
  it('an unanswered PING makes it unusable until the replacement connects', async () => {
    const t = new FakeTarget();
    let replaced = 0;
    const h = new ConnectionHealth('command', t, 1000, silent, () => replaced++);
    const check = h.check(10);
    assert.equal(h.usable, true, 'usable while the PING is out');
    t.probes[0]!.resolve(false);
    await tick();
    assert.equal(h.usable, false);
    assert.equal(t.replaces.length, 1);
    t.replaces[0]!.resolve();
    await check;
    assert.deepEqual([h.usable, h.replacements, replaced], [true, 1, 1]);
  });

  it('a condemnation during a check wins over the PING answered late', async () => {
    const t = new FakeTarget();
    const h = new ConnectionHealth('command', t, 1000, silent);
    const check = h.check(10);
    h.condemn('missed a deadline', 1000);
    assert.equal(h.usable, false);
    t.probes[0]!.resolve(true); // the old connection's PONG, too late
    await check;
    assert.equal(h.usable, false, 'still replacing');
    h.condemn('again', 1000); // no second replacement while one is running
    assert.equal(t.replaces.length, 1);
    t.replaces[0]!.resolve();
    await tick();
    assert.deepEqual([h.usable, h.replacements], [true, 1]);
  });

  it('a missed deadline or PING on a connection that read a reply within the window keeps it (slow), not after', async () => {
    const t = new FakeTarget();
    const h = new ConnectionHealth('command', t, 1000, silent);
    h.noteReply();
    h.condemn('missed a deadline', 50);
    const check = h.check(50);
    t.probes[0]!.resolve(false);
    await check;
    assert.deepEqual([h.usable, h.replacements, h.slow, t.replaces.length], [true, 0, 2, 0], 'both misses counted as slow');
    // No reply for longer than the window: frozen.
    await new Promise((r) => setTimeout(r, 60));
    h.condemn('missed a deadline', 50);
    assert.deepEqual([h.usable, h.replacements, h.slow], [false, 1, 2]);
  });

  it('several connections behind one health (a cluster): a reply on one does not spare the others', () => {
    const t = new FakeTarget();
    const h = new ConnectionHealth('command', t, 1000, silent, undefined, false);
    h.noteReply();
    h.condemn('missed a deadline', 1000);
    assert.deepEqual([h.usable, h.replacements, h.slow], [false, 1, 0]);
  });

  it('a replacement that hangs fails after its timeout, and the next check replaces again', async () => {
    const t = new FakeTarget();
    const h = new ConnectionHealth('subscriber', t, 30, silent);
    h.condemn('frozen', 1000);
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(h.usable, false, 'failed: still not usable');
    const again = h.check(10); // no probe: straight to a new replacement
    await tick();
    assert.equal(t.probes.length, 0);
    assert.equal(t.replaces.length, 2);
    t.replaces[0]!.resolve(); // the abandoned one connecting late changes nothing
    await tick();
    assert.equal(h.usable, false);
    t.replaces[1]!.resolve();
    await again;
    assert.deepEqual([h.usable, h.replacements], [true, 2]);
  });
});

describe('withDeadline', () => {
  it('rejects at the deadline with the given error and ignores a later outcome', async () => {
    const d = deferred<number>();
    const t0 = Date.now();
    await assert.rejects(withDeadline(d.promise, 30, () => new Error('late')), /late/);
    assert.ok(Date.now() - t0 >= 25);
    d.reject(new Error('after the deadline')); // no unhandled rejection
    assert.equal(await withDeadline(Promise.resolve(7), 30, () => new Error('x')), 7);
  });

  /** Blocks the event loop for `ms`, as a broadcast to many sockets or a starved machine does. */
  const block = (ms: number) => {
    const until = performance.now() + ms;
    while (performance.now() < until);
  };

  it('a reply that arrived while the loop was blocked past the deadline is read, not timed out', async () => {
    // A real socket: the "server" answers 20 ms after the request, well inside the 150 ms deadline, but this
    // process is busy for 400 ms after sending, so the deadline timer is overdue when the loop comes back.
    const server = createServer((s) => s.once('data', () => setTimeout(() => s.write('PONG'), 20)));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    const client: Socket = connect(port, '127.0.0.1');
    await once(client, 'connect');
    try {
      const reply = new Promise<string>((resolve) => client.once('data', (b: Buffer) => resolve(b.toString())));
      client.write('PING');
      const answered = withDeadline(reply, 150, () => new Error('no PONG in time'));
      block(400);
      assert.equal(await answered, 'PONG');
    } finally {
      client.destroy();
      server.close();
    }
  });

  it('a health-check PONG that arrived while the loop was blocked past the probe timeout counts as answered', async () => {
    // The probe of the health check (answeredWithin), in the 100k run's broadcast: a worker's loop blocked for
    // seconds writing to 16,700 sockets; the PONG was in the socket, the timer ran first and condemned the connection.
    const server = createServer((s) => s.once('data', () => setTimeout(() => s.write('PONG'), 20)));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client: Socket = connect((server.address() as { port: number }).port, '127.0.0.1');
    await once(client, 'connect');
    try {
      const reply = new Promise<string>((resolve) => client.once('data', (b: Buffer) => resolve(b.toString())));
      client.write('PING');
      const answered = answeredWithin(reply, 150);
      block(400);
      assert.equal(await answered, true);
      assert.equal(await answeredWithin(new Promise(() => {}), 50), false, 'a silent peer still fails the probe');
    } finally {
      client.destroy();
      server.close();
    }
  });

  it('still expires when the peer is silent, even in a process whose loop keeps stalling', async () => {
    const silentPeer = new Promise<never>(() => {});
    const t0 = performance.now();
    const p = withDeadline(silentPeer, 100, () => new Error('silent'));
    // Stall past every re-armed timer: the deadline gives up after MAX_EXTENSIONS re-arms all the same.
    const stalls = setInterval(() => block(150), 10);
    try {
      await assert.rejects(p, /silent/);
    } finally {
      clearInterval(stalls);
    }
    assert.ok(MAX_EXTENSIONS >= 1);
    assert.ok(performance.now() - t0 < 100 * (MAX_EXTENSIONS + 1) + 150 * 8, 'gave up within its bounded extensions');
  });
});

