/**
 * Seed 000 chats reach every reader in the seed 000 shape (native fields plus `action` and `data`), decided by what
 * the publication is — event `chat` on `compat.seed000Channel` — and not by a flag stored with it: the broker keeps
 * no dialect field. Readers: a seed 000 client, a native WebSocket subscriber, a raw SSE stream and the history API.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EncodedPublication } from '../../src/delivery/encoded.js';
import type { ServerPublication } from '../../src/protocol/index.js';
import { nodeOf } from '../../src/server.js';
import { publicationShape } from '../../src/session/dialects/index.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { rawSse } from '../helpers/sse-client.js';
import { connectReady, type Frame } from '../helpers/ws-client.js';

const CH = 'lobby';

describe('seed 000 chat shape', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer(['--compat.seed000Channel', CH]);
  });
  after(() => srv.close());

  it('every reader gets action/data for a chat on the seed 000 channel, and nothing else gets them', async () => {
    const seed = srv.track((await connectReady(srv.wsUrl)).client);
    seed.send({ action: 'ping' });
    await seed.next((m) => m.action === 'pong'); // joined
    const native = srv.track((await connectReady(srv.wsUrl)).client);
    await native.call('subscribe', { channel: CH });
    const sse = srv.track(await rawSse(`${srv.url}/events?channel=${CH}`));
    await sse.waitEvent((e) => e.event === 'connected');

    seed.send({ action: 'chat', data: { text: 'hi' } });
    await srv.publish(CH, { n: 1 }); // event `message`: native shape
    await native.call('publish', { channel: CH, event: 'chat', data: { n: 2 } }); // a chat, whoever sends it
    await srv.publish('other', { n: 3 }, 'chat'); // another channel: native shape

    const shapes = (pubs: Frame[]) => pubs.map((p) => [p.type, p.action, p.data]);
    const want = [
      ['chat', 'chat', { text: 'hi' }],
      ['message', undefined, undefined],
      ['chat', 'chat', { n: 2 }],
    ];
    const wsPubs = async (c: typeof seed) => {
      await c.nextPush((m) => m.push === 'publication' && m.offset === 3);
      return c.messages.filter((m) => m.push === 'publication' && m.channel === CH);
    };
    assert.deepEqual(shapes(await wsPubs(seed)), want, 'seed 000 client');
    assert.deepEqual(shapes(await wsPubs(native)), want, 'native WebSocket');
    await sse.waitEvent((e) => e.data?.includes('"offset":3') === true);
    const ssePubs = sse.events.filter((e) => e.data?.includes('"push":"publication"')).map((e) => JSON.parse(e.data!) as Frame);
    assert.deepEqual(shapes(ssePubs), want, 'SSE');
    const history = await srv.api('GET', `/api/history?channel=${CH}`);
    assert.deepEqual(shapes(history.body.publications), want, 'history API');
    const wsHistory = await native.call('history', { channel: CH });
    assert.deepEqual(shapes(wsHistory.publications), want, 'history command');
    const other = await srv.api('GET', '/api/history?channel=other');
    assert.equal(other.body.publications[0].action, undefined);

    // The broker stores no dialect field: the seed 000 chat was published without meta.
    const stored = await nodeOf(srv.sb).broker.history(CH);
    assert.deepEqual(
      stored.publications.map((p) => p.meta),
      [undefined, undefined, undefined],
    );
  });

  it('the seed 000 shape is built once per publication, however many recipients', () => {
    const pub: ServerPublication = { channel: CH, event: 'chat', data: '{"a":1}', epoch: 'e', offset: 1, time: 0 };
    const enc = new EncodedPublication(pub);
    const a = publicationShape(enc, CH);
    assert.notEqual(a, enc);
    assert.equal(publicationShape(enc, CH), a, 'cached per publication');
    assert.equal(a.wsFrame(), publicationShape(enc, CH).wsFrame(), 'one frame shared by every recipient');
    assert.equal(JSON.parse(a.json).action, 'chat');
    const plain = new EncodedPublication({ ...pub, event: 'message' });
    assert.equal(publicationShape(plain, CH), plain, 'other publications are sent as they are');
  });
});
