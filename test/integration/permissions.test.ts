/**
 * The namespace permission matrix, end to end: real JWTs, real WebSockets, every (who × channel × action) cell
 * checked against the documented outcome.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Switchboard } from '../../src/server.js';
import { startJwtServer } from '../helpers/server.js';
import { mintHs256 } from '../helpers/tokens.js';
import { connectReady, seedOutcome, type WsClient } from '../helpers/ws-client.js';

const SECRET = 'permissions-test-secret-0123456789';

type Who = 'anonymous' | 'alice' | 'bob' | 'granted';
type Action = 'subscribe' | 'publish' | 'presence' | 'history';

/** Channels: one per rule. */
const CH = {
  public: 'public:lobby', // subscribe: anonymous, publish: false
  chat: 'chat:room', // subscribe: authenticated, publish: true
  private: 'private:ops', // subscribe: token
  quiet: 'quiet:feed', // presence off
  plain: 'lobby', // default namespace: authenticated subscribe and publish
  inbox: 'inbox#alice', // user-limited (default namespace)
  unknown: 'nope:x', // undeclared namespace
} as const;
type Ch = keyof typeof CH;

const OK = 'ok';
const DENIED = 'permission_denied';
const UNKNOWN = 'unknown_namespace';
const DISABLED = 'feature_disabled';

/**
 * Expected outcome per cell. `granted` is alice with `channels: ["private:ops"]` in her token. Presence and history
 * are asked for without subscribing first.
 */
const MATRIX: Record<Who, Record<Ch, Record<Action, string>>> = {
  anonymous: {
    public: { subscribe: OK, publish: DENIED, presence: OK, history: OK },
    chat: { subscribe: DENIED, publish: DENIED, presence: DENIED, history: DENIED },
    private: { subscribe: DENIED, publish: DENIED, presence: DENIED, history: DENIED },
    quiet: { subscribe: DENIED, publish: DENIED, presence: DENIED, history: DENIED },
    plain: { subscribe: DENIED, publish: DENIED, presence: DENIED, history: DENIED },
    inbox: { subscribe: DENIED, publish: DENIED, presence: DENIED, history: DENIED },
    unknown: { subscribe: UNKNOWN, publish: UNKNOWN, presence: UNKNOWN, history: UNKNOWN },
  },
  alice: {
    public: { subscribe: OK, publish: DENIED, presence: OK, history: OK },
    chat: { subscribe: OK, publish: OK, presence: OK, history: OK },
    private: { subscribe: DENIED, publish: DENIED, presence: DENIED, history: DENIED },
    quiet: { subscribe: OK, publish: DENIED, presence: DISABLED, history: OK },
    plain: { subscribe: OK, publish: OK, presence: OK, history: OK },
    inbox: { subscribe: OK, publish: OK, presence: OK, history: OK },
    unknown: { subscribe: UNKNOWN, publish: UNKNOWN, presence: UNKNOWN, history: UNKNOWN },
  },
  bob: {
    public: { subscribe: OK, publish: DENIED, presence: OK, history: OK },
    chat: { subscribe: OK, publish: OK, presence: OK, history: OK },
    private: { subscribe: DENIED, publish: DENIED, presence: DENIED, history: DENIED },
    quiet: { subscribe: OK, publish: DENIED, presence: DISABLED, history: OK },
    plain: { subscribe: OK, publish: OK, presence: OK, history: OK },
    inbox: { subscribe: DENIED, publish: DENIED, presence: DENIED, history: DENIED },
    unknown: { subscribe: UNKNOWN, publish: UNKNOWN, presence: UNKNOWN, history: UNKNOWN },
  },
  granted: {
    public: { subscribe: OK, publish: DENIED, presence: OK, history: OK },
    chat: { subscribe: OK, publish: OK, presence: OK, history: OK },
    private: { subscribe: OK, publish: DENIED, presence: OK, history: OK },
    quiet: { subscribe: OK, publish: DENIED, presence: DISABLED, history: OK },
    plain: { subscribe: OK, publish: OK, presence: OK, history: OK },
    inbox: { subscribe: OK, publish: OK, presence: OK, history: OK },
    unknown: { subscribe: UNKNOWN, publish: UNKNOWN, presence: UNKNOWN, history: UNKNOWN },
  },
};

describe('namespace permission matrix (JWT auth, anonymous allowed)', () => {
  let sb: Switchboard;
  let wsUrl: string;
  const clients: WsClient[] = [];

  before(async () => {
    ({ sb, wsUrl } = await startJwtServer(SECRET, {
      client: { allowAnonymous: true },
      namespaces: [
        { name: 'public', subscribe: 'anonymous' },
        { name: 'chat', publish: true },
        { name: 'private', subscribe: 'token', publish: false },
        { name: 'quiet', presence: false },
        { name: 'inbox-unused' },
      ],
    }));
  });
  after(async () => {
    for (const c of clients) c.close();
    await sb.shutdown();
  });

  async function connect(who: Who): Promise<WsClient> {
    const token =
      who === 'anonymous' ? undefined : await mintHs256(SECRET, who === 'granted' ? { sub: 'alice', channels: [CH.private] } : { sub: who });
    const { client } = await connectReady(token ? `${wsUrl}?token=${token}` : wsUrl);
    clients.push(client);
    if (who === 'granted') {
      // The grant subscribes at once; leave so the matrix starts from nothing, the grant still in force.
      await client.nextPush((m) => m.push === 'subscribed' && m.channel === CH.private);
      await client.call('unsubscribe', { channel: CH.private });
    }
    return client;
  }

  async function attempt(c: WsClient, action: Action, channel: string): Promise<string> {
    const params = action === 'publish' ? { channel, data: { t: 1 } } : action === 'history' ? { channel, limit: 1 } : { channel };
    const r = await c.request(action, params);
    if (action === 'subscribe' && !r.error) await c.call('unsubscribe', { channel });
    return r.error ? r.error.code : OK;
  }

  for (const who of Object.keys(MATRIX) as Who[]) {
    it(`${who}: seed 002 join_room and send_to_room get exactly the native subscribe and publish outcomes`, async () => {
      const c = await connect(who);
      const got: string[] = [];
      const want: string[] = [];
      for (const ch of Object.keys(CH) as Ch[]) {
        const joined = await seedOutcome(c, { type: 'join_room', payload: { room_id: CH[ch] } });
        if (joined === OK) await c.call('unsubscribe', { channel: CH[ch] });
        got.push(`${ch}/join_room: ${joined}`, `${ch}/send_to_room: ${await seedOutcome(c, { type: 'send_to_room', payload: { room_id: CH[ch], text: 'x' } })}`);
        want.push(`${ch}/join_room: ${MATRIX[who][ch].subscribe}`, `${ch}/send_to_room: ${MATRIX[who][ch].publish}`);
      }
      assert.deepEqual(got, want);
    });
  }

  for (const who of Object.keys(MATRIX) as Who[]) {
    it(`${who}: every channel and action`, async () => {
      const c = await connect(who);
      const got: string[] = [];
      const want: string[] = [];
      for (const ch of Object.keys(CH) as Ch[]) {
        for (const action of ['subscribe', 'publish', 'presence', 'history'] as Action[]) {
          got.push(`${ch}/${action}: ${await attempt(c, action, CH[ch])}`);
          want.push(`${ch}/${action}: ${MATRIX[who][ch][action]}`);
        }
      }
      assert.deepEqual(got, want);
    });
  }

  it('a subscription token opens a token channel; one for another user or channel does not', async () => {
    const c = await connect('bob');
    const good = await mintHs256(SECRET, { sub: 'bob', channel: CH.private });
    const otherUser = await mintHs256(SECRET, { sub: 'alice', channel: CH.private });
    const otherChannel = await mintHs256(SECRET, { sub: 'bob', channel: 'private:elsewhere' });
    for (const token of [otherUser, otherChannel, 'garbage']) {
      const r = await c.request('subscribe', { channel: CH.private, token });
      assert.equal(r.error?.code, DENIED);
    }
    const ok = await c.call('subscribe', { channel: CH.private, token: good });
    assert.equal(ok.channel, CH.private);
    // Subscribed, bob may read presence; publishing stays closed (publish: false).
    assert.ok((await c.call('presence', { channel: CH.private })).members.some((m: { user: string }) => m.user === 'bob'));
    assert.equal((await c.request('publish', { channel: CH.private, data: 1 })).error?.code, DENIED);
  });

  it('the channels claim subscribes the connection at once', async () => {
    const token = await mintHs256(SECRET, { sub: 'carol', channels: [CH.private, CH.chat] });
    const { client } = await connectReady(`${wsUrl}?token=${token}`);
    clients.push(client);
    const first = await client.nextPush((m) => m.push === 'subscribed');
    const second = await client.nextPush((m) => m.push === 'subscribed');
    assert.deepEqual([first.channel, second.channel], [CH.private, CH.chat]);
    await sb.publish(CH.private, { hello: 'carol' });
    const pub = await client.nextPush((m) => m.push === 'publication');
    assert.deepEqual(pub.payload, { hello: 'carol' });
  });

  it('the server API may publish anywhere declared, and is refused an undeclared namespace', async () => {
    await sb.publish(CH.private, 1);
    await assert.rejects(() => sb.publish(CH.unknown, 1), /namespace/);
  });
});
