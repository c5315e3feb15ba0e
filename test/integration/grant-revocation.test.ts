/**
 * Taking a grant away ends the subscription (issue #11, finding 7): a `refresh` whose token no longer lists a channel
 * in `channels`, and an expired subscription token, each end the subscription with an `unsubscribed` push and a
 * documented code; afterwards the connection neither receives the channel's publications nor reads or publishes
 * there. A subscription token refreshed in time keeps its subscription.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Switchboard } from '../../src/server.js';
import { startJwtServer } from '../helpers/server.js';
import { mintHs256, nowSec } from '../helpers/tokens.js';
import { connectReady, type WsClient } from '../helpers/ws-client.js';

const SECRET = 'grant-revocation-secret-0123456789';

describe('revoked and expired channel grants', () => {
  let sb: Switchboard;
  let wsUrl: string;
  const clients: WsClient[] = [];
  before(async () => {
    ({ sb, wsUrl } = await startJwtServer(SECRET, {
      jwt: { secret: SECRET, clockTolerance: 0 },
      namespaces: [{ name: 'private', subscribe: 'token', publish: true }],
    }));
  });
  after(async () => {
    for (const c of clients) await c.close();
    await sb.shutdown();
  });

  async function connect(claims: Record<string, unknown>): Promise<WsClient> {
    const { client } = await connectReady(`${wsUrl}?token=${await mintHs256(SECRET, claims)}`);
    clients.push(client);
    return client;
  }

  /** What the connection can still do on `channel`: receive (after a publish by the API), publish, read history. */
  async function access(c: WsClient, channel: string): Promise<{ received: boolean; publish: string; history: string }> {
    const marker = Math.random();
    await sb.publish(channel, { marker });
    // The reply to a later command of the same connection comes after anything already queued to it.
    const publish = await c.request('publish', { channel, data: { from: 'client' } });
    const history = await c.request('history', { channel, limit: 1 });
    const received = c.pushes.some((m) => m.push === 'publication' && m.channel === channel && m.payload?.marker === marker);
    return { received, publish: publish.error?.code ?? 'ok', history: history.error?.code ?? 'ok' };
  }

  it('a refresh without the channel in "channels" ends a claim-granted subscription', async () => {
    const c = await connect({ sub: 'alice', channels: ['private:ops', 'private:keep'] });
    await c.nextPush((m) => m.push === 'subscribed' && m.channel === 'private:ops');
    await c.nextPush((m) => m.push === 'subscribed' && m.channel === 'private:keep');
    assert.deepEqual(await access(c, 'private:ops'), { received: true, publish: 'ok', history: 'ok' });

    await c.call('refresh', { token: await mintHs256(SECRET, { sub: 'alice', channels: ['private:keep'] }) });
    const gone = await c.nextPush((m) => m.push === 'unsubscribed');
    assert.equal(gone.channel, 'private:ops');
    assert.equal(gone.code, 'permission_denied');
    assert.deepEqual(await access(c, 'private:ops'), { received: false, publish: 'permission_denied', history: 'permission_denied' });
    // The channel the new token still grants stays.
    assert.deepEqual(await access(c, 'private:keep'), { received: true, publish: 'ok', history: 'ok' });
  });

  it('an expired subscription token ends its subscription; one refreshed in time stays', async () => {
    const user = 'bob';
    const c = await connect({ sub: user });
    const exp = nowSec() + 2;
    const subToken = (channel: string, e: number) => mintHs256(SECRET, { sub: user, channel, exp: e });
    const r1 = await c.call('subscribe', { channel: 'private:short', token: await subToken('private:short', exp) });
    const r2 = await c.call('subscribe', { channel: 'private:renewed', token: await subToken('private:renewed', exp) });
    assert.equal(r1.expires, exp);
    assert.deepEqual(await access(c, 'private:short'), { received: true, publish: 'ok', history: 'ok' });

    const renewed = await c.call('refresh', { channel: 'private:renewed', token: await subToken('private:renewed', nowSec() + 3600) });
    assert.ok(renewed.expires > exp);

    const gone = await c.nextPush((m) => m.push === 'unsubscribed', 5000);
    assert.deepEqual([gone.channel, gone.code], ['private:short', 'token_expired']);
    assert.deepEqual(await access(c, 'private:short'), { received: false, publish: 'permission_denied', history: 'permission_denied' });
    // The point is that nothing happens: the expiry check runs every second, so after 1.1 s the renewed subscription
    // has outlived a check past its first token's expiry and must still be served.
    await sleep(1100);
    assert.ok(!c.pushes.some((m) => m.push === 'unsubscribed' && m.channel === 'private:renewed'));
    assert.deepEqual(await access(c, 'private:renewed'), { received: true, publish: 'ok', history: 'ok' });
  });

  it('a subscription token refresh needs the subscription and a valid token for it', async () => {
    const c = await connect({ sub: 'carol' });
    const token = await mintHs256(SECRET, { sub: 'carol', channel: 'private:x' });
    assert.equal((await c.request('refresh', { channel: 'private:x', token })).error?.code, 'not_subscribed');
    await c.call('subscribe', { channel: 'private:x', token });
    const wrong = await mintHs256(SECRET, { sub: 'carol', channel: 'private:y' });
    assert.equal((await c.request('refresh', { channel: 'private:x', token: wrong })).error?.code, 'permission_denied');
  });
});
