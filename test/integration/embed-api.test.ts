/**
 * The embed API (`sb.presence`, `sb.history`) goes through the node like the server API: the same namespace checks
 * and errors, the node's spans, and history in one order (oldest first) with or without a limit.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ReplyError } from '../../src/protocol/index.js';
import { createSwitchboard, type Switchboard } from '../../src/server.js';

describe('embed API reads', () => {
  const exporter = new InMemorySpanExporter();
  let app: http.Server;
  let sb: Switchboard;
  let base: string;

  before(async () => {
    app = http.createServer((_req, res) => res.end('my app'));
    sb = createSwitchboard({
      server: app,
      config: { logLevel: 'silent', namespaces: [{ name: 'quiet', presence: false }, { name: 'room' }] },
      env: {},
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    await sb.listen();
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
  });
  after(async () => {
    await sb.shutdown();
    await new Promise((resolve) => app.close(resolve));
  });

  /** The API's error code for the same read, to hold the embed API to it. */
  const apiCode = async (path: string): Promise<string> => ((await (await fetch(base + path)).json()) as { error: { code: string } }).error.code;
  const rejectsWith = (p: Promise<unknown>, code: string) => assert.rejects(p, (e: unknown) => e instanceof ReplyError && e.code === code);

  it('history with a limit is the newest `limit` publications, oldest first, like history without one', async () => {
    for (let i = 1; i <= 5; i++) await sb.publish('room:h', { i });
    assert.deepEqual((await sb.history('room:h')).map((p) => p.offset), [1, 2, 3, 4, 5]);
    assert.deepEqual((await sb.history('room:h', 3)).map((p) => p.offset), [3, 4, 5]);
    assert.deepEqual((await sb.history('room:h', 3)).map((p) => JSON.parse(p.data)), [{ i: 3 }, { i: 4 }, { i: 5 }]);
    assert.deepEqual(await sb.history('room:h', 0), []);
  });

  it('presence refuses a namespace with presence off, with the server API\'s error', async () => {
    assert.equal(await apiCode('/api/presence?channel=quiet:x'), 'feature_disabled');
    await rejectsWith(sb.presence('quiet:x'), 'feature_disabled');
  });

  it('presence refuses an undeclared namespace, and both reads a bad channel name, as the API does', async () => {
    assert.equal(await apiCode('/api/presence?channel=nope:x'), 'unknown_namespace');
    await rejectsWith(sb.presence('nope:x'), 'unknown_namespace');
    assert.equal(await apiCode('/api/history?channel=' + encodeURIComponent('bad channel')), 'invalid_channel');
    await rejectsWith(sb.history('bad channel'), 'invalid_channel');
    await rejectsWith(sb.presence('bad channel'), 'invalid_channel');
  });

  it('presence and history are read through the node (its spans)', async () => {
    exporter.reset();
    assert.deepEqual(await sb.presence('room:p'), []);
    await sb.history('room:h', 2);
    const names = exporter.getFinishedSpans().map((s) => s.name);
    assert.ok(names.includes('presence.get'), `spans: ${names.join(', ')}`);
    assert.ok(names.includes('history.read'), `spans: ${names.join(', ')}`);
  });
});
