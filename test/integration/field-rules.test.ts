/**
 * One rule per field (protocol/fields.ts): the WebSocket decoder and the HTTP API's schemas refuse the same invalid
 * field with the same code and the same message (only the field name's quoting differs: `"channel" must ...` on the
 * WebSocket, `channel: must ...` in the API). Each case is sent both ways to one real server, with non-default
 * limits so a rule that ignores its configured bound shows.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer, type TestServer } from '../helpers/server.js';
import { connectReady, type WsClient } from '../helpers/ws-client.js';

const NAMESPACES = JSON.stringify([{ name: 'kv', keyed: true, subscribe: 'anonymous', publish: true }]);
const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

/** Publish params with one invalid field, and the code both sides must answer. */
const PUBLISH_CASES: { what: string; params: Record<string, unknown>; code: string }[] = [
  { what: 'channel with a space', params: { channel: 'a b', data: 1 }, code: 'invalid_channel' },
  { what: 'channel past channel.maxLength', params: { channel: 'c'.repeat(21), data: 1 }, code: 'invalid_channel' },
  { what: 'channel not a string', params: { channel: 5, data: 1 }, code: 'invalid_channel' },
  { what: 'channel missing', params: { data: 1 }, code: 'bad_request' },
  { what: 'reserved event', params: { channel: 'c', event: 'connected', data: 1 }, code: 'invalid_event' },
  { what: 'event with a space', params: { channel: 'c', event: 'a b', data: 1 }, code: 'invalid_event' },
  { what: 'event past 64 characters', params: { channel: 'c', event: 'e'.repeat(65), data: 1 }, code: 'invalid_event' },
  { what: 'data missing', params: { channel: 'c' }, code: 'bad_request' },
  { what: 'traceparent malformed', params: { channel: 'c', data: 1, traceparent: TRACEPARENT.toUpperCase() }, code: 'bad_request' },
  { what: 'tracestate too long', params: { channel: 'c', data: 1, traceparent: TRACEPARENT, tracestate: 's'.repeat(513) }, code: 'bad_request' },
  { what: 'key past keyed.maxKeyLength', params: { channel: 'kv:a', key: 'k'.repeat(9), data: 1 }, code: 'invalid_key' },
  { what: 'key with a control character', params: { channel: 'kv:a', key: 'a\u0001', data: 1 }, code: 'invalid_key' },
  { what: 'empty key', params: { channel: 'kv:a', key: '', data: 1 }, code: 'invalid_key' },
  { what: 'op without key', params: { channel: 'kv:a', op: 'delete' }, code: 'invalid_key' },
  { what: 'unknown op', params: { channel: 'kv:a', key: 'k', op: 'merge', data: 1 }, code: 'bad_request' },
];

/** `"field" message` (WebSocket) as the API words it: `field: message`. */
function asApiMessage(wsMessage: string): string {
  return wsMessage.replace(/^"([a-z]+)" /, '$1: ');
}

describe('one rule per field: WebSocket and HTTP API agree', () => {
  let srv: TestServer;
  let c: WsClient;
  before(async () => {
    srv = await startServer(['--namespaces', NAMESPACES, '--channel.maxLength', '20', '--keyed.maxKeyLength', '8', '--api.maxHistoryLimit', '50', '--websocket.maxBadFrames', '1000']);
    c = srv.track((await connectReady(srv.wsUrl)).client);
  });
  after(() => srv.close());

  for (const k of PUBLISH_CASES) {
    it(`publish, ${k.what}: ${k.code} both ways`, async () => {
      const ws = await c.request('publish', k.params);
      const api = await srv.api('POST', '/api/publish', k.params);
      assert.equal(ws.error?.code, k.code, `WebSocket: ${JSON.stringify(ws)}`);
      assert.equal(api.status, 400, JSON.stringify(api.body));
      assert.equal(api.body.error.code, k.code, `API: ${JSON.stringify(api.body)}`);
      assert.equal(api.body.error.message, asApiMessage(ws.error!.message));
    });
  }

  it('history limit past api.maxHistoryLimit: same code and message', async () => {
    const ws = await c.request('history', { channel: 'c', limit: 51 });
    const api = await srv.api('GET', '/api/history?channel=c&limit=51');
    assert.deepEqual([ws.error?.code, api.body.error.code], ['bad_request', 'bad_request']);
    assert.equal(api.body.error.message, ws.error!.message);
    assert.match(ws.error!.message, /from 0 to 50/);
  });

  it('the valid values of the same fields pass both ways', async () => {
    const params = { channel: 'c'.repeat(20), event: 'e'.repeat(64), data: { ok: true }, traceparent: TRACEPARENT, tracestate: 's'.repeat(512) };
    const ws = await c.request('publish', params);
    assert.equal(ws.error, undefined, JSON.stringify(ws));
    const api = await srv.api('POST', '/api/publish', params);
    assert.equal(api.status, 200, JSON.stringify(api.body));
    const keyed = { channel: 'kv:a', key: 'k'.repeat(8), data: 1 };
    assert.equal((await c.request('publish', keyed)).error, undefined);
    assert.equal((await srv.api('POST', '/api/publish', { ...keyed, key: 'j'.repeat(8) })).status, 200);
    assert.equal((await srv.api('POST', '/api/publish', { channel: 'kv:a', key: 'j'.repeat(8), op: 'delete' })).status, 200);
  });
});
