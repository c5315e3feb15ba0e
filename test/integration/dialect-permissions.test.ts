/**
 * Every dialect passes the checks of the native command it stands for (issue #11, finding 1): seed 000 `chat` is a
 * native publish to `compat.seed000Channel` (after the join, a native subscribe), and seed 002 `send_to_user` is the
 * native `send`, allowed by `client.directMessages`. Real JWTs, real WebSockets, a production-mode server.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Switchboard } from '../../src/server.js';
import { startJwtServer } from '../helpers/server.js';
import { mintHs256 } from '../helpers/tokens.js';
import { connectReady, seedOutcome, type WsClient } from '../helpers/ws-client.js';

const SECRET = 'dialect-permissions-secret-0123456789';
const NAMESPACES = [
  { name: 'public', subscribe: 'anonymous' }, // anyone subscribes, nobody publishes
  { name: 'chat', publish: true }, // authenticated subscribe and publish
  { name: 'private', subscribe: 'token' },
] as const;

const servers: Switchboard[] = [];
const clients: WsClient[] = [];
after(async () => {
  for (const c of clients) await c.close();
  for (const s of servers) await s.shutdown();
});

async function start(extra: Record<string, unknown>): Promise<{ sb: Switchboard; url: string }> {
  const { sb, wsUrl } = await startJwtServer(SECRET, { client: { allowAnonymous: true }, namespaces: NAMESPACES, ...extra });
  servers.push(sb);
  return { sb, url: wsUrl };
}

async function connect(url: string, user?: string): Promise<WsClient> {
  const token = user ? await mintHs256(SECRET, { sub: user }) : undefined;
  const { client } = await connectReady(token ? `${url}?token=${token}` : url);
  clients.push(client);
  return client;
}

describe('seed 000 chat passes the publish check of its channel', () => {
  // [seed000Channel, who, outcome of the first chat, outcome of the second chat]
  const cases: [string, 'anonymous' | 'alice', string, string][] = [
    // Anyone may join, nobody may publish: every chat is refused, the join succeeded.
    ['public:lobby', 'anonymous', 'permission_denied', 'permission_denied'],
    ['public:lobby', 'alice', 'permission_denied', 'permission_denied'],
    // Anonymous may neither join nor publish: the refused join must not count as joined for the next chat.
    ['chat:room', 'anonymous', 'permission_denied', 'permission_denied'],
    ['chat:room', 'alice', 'ok', 'ok'],
    // A token namespace: alice without a grant may not join, so she may not chat either.
    ['private:ops', 'alice', 'permission_denied', 'permission_denied'],
  ];
  for (const [channel, who, first, second] of cases) {
    it(`${who} on ${channel}: ${first}, then ${second}; nothing refused reaches history`, async () => {
      const { sb, url } = await start({ compat: { seed000Channel: channel } });
      const c = await connect(url, who === 'anonymous' ? undefined : who);
      const got = [await seedOutcome(c, { action: 'chat', data: { n: 1 } }), await seedOutcome(c, { action: 'chat', data: { n: 2 } })];
      assert.deepEqual(got, [first, second]);
      const kept = await sb.history(channel);
      assert.equal(kept.length, got.filter((o) => o === 'ok').length, 'only allowed chats are published');
    });
  }
});

describe('direct messages from clients need client.directMessages', () => {
  /** Sends from `from` to bob by the native `send` and by seed 002 `send_to_user`; what each side saw. */
  async function attempt(url: string, from: 'anonymous' | 'alice'): Promise<{ native: string; seed: string; received: Record<string, unknown>[] }> {
    const bob = await connect(url, 'bob');
    const c = await connect(url, from === 'anonymous' ? undefined : from);
    const r = await c.request('send', { user: 'bob', event: 'hello', data: { text: 'native' } });
    const seed = await seedOutcome(c, { type: 'send_to_user', payload: { user_id: 'bob', text: 'seed' } });
    // A refused send is refused before anything is sent; an allowed one is queued to bob before the reply to his own
    // command below, which therefore arrives after it.
    await bob.request('unsubscribe', { channel: 'flush-barrier' });
    const received = bob.pushes.filter((m) => m.push === 'message');
    return { native: r.error ? r.error.code : 'ok', seed, received };
  }

  it('authenticated (the default): alice may, an anonymous connection may not; the recipient sees the sender', async () => {
    const { url } = await start({});
    const anon = await attempt(url, 'anonymous');
    assert.deepEqual([anon.native, anon.seed, anon.received.length], ['permission_denied', 'permission_denied', 0]);
    const alice = await attempt(url, 'alice');
    assert.deepEqual([alice.native, alice.seed], ['ok', 'ok']);
    assert.deepEqual(
      alice.received.map((m) => [m.type, m.from, m.payload]),
      [
        ['hello', 'alice', { text: 'native' }],
        ['direct_message', 'alice', { user_id: 'bob', text: 'seed', from_user_id: 'alice' }],
      ],
    );
  });

  it('off: nobody may', async () => {
    const { url } = await start({ client: { allowAnonymous: true, directMessages: 'off' } });
    const alice = await attempt(url, 'alice');
    assert.deepEqual([alice.native, alice.seed, alice.received.length], ['permission_denied', 'permission_denied', 0]);
  });

  it('anonymous: every connection may', async () => {
    const { url } = await start({ client: { allowAnonymous: true, directMessages: 'anonymous' } });
    const anon = await attempt(url, 'anonymous');
    assert.deepEqual([anon.native, anon.seed, anon.received.length], ['ok', 'ok', 2]);
  });
});
