/**
 * The Pusher adapter without a server: frames become native commands (with a signature guard where Pusher needs
 * one), malformed frames are refused with the native codes in Pusher's error shapes, and the signature checks of
 * src/auth/pusher-signature.ts accept exactly what the app's secret signed.
 */
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { channelAuthValid, requestRefusal, signinValid } from '../../src/auth/pusher-signature.js';
import { CommandError, ReplyError } from '../../src/protocol/index.js';
import { PusherDialect } from '../../src/session/dialects/pusher.js';
import { appNamespaceOf, nativeChannelOf, nativeUserOf, pusherChannelOf, pusherDataJson, pusherDataString } from '../../src/protocol/pusher-data.js';
import type { PusherAppConfig } from '../../src/auth/pusher-apps.js';

const app: PusherAppConfig = { appId: '1', key: 'k', secret: 's', namespace: '', clientEvents: true };
const hmac = (text: string, secret = app.secret) => createHmac('sha256', secret).update(text).digest('hex');
const subscribed = new Set<string>();
const dialect = (a: PusherAppConfig = app, signIn: (user: string) => boolean = () => true) =>
  new PusherDialect({ app: a, socketId: '1.2', limits: { maxChannelLength: 255, maxHistoryLimit: 100, maxKeyLength: 100 }, isSubscribed: (c) => subscribed.has(c), signIn });

describe('Pusher frames as native commands', () => {
  it('subscribe to a public channel is a plain native subscribe', () => {
    const t = dialect().translate({ event: 'pusher:subscribe', data: { channel: 'news' } });
    assert.deepEqual(t.steps.map((s) => [s.command, s.guard]), [[{ id: null, method: 'subscribe', params: { channel: 'news' } }, undefined]]);
  });

  it('a private subscribe is guarded by the channel signature', () => {
    const d = dialect();
    const ok = d.translate({ event: 'pusher:subscribe', data: { channel: 'private-a', auth: `k:${hmac('1.2:private-a')}` } });
    ok.steps[0]!.guard!();
    const bad = d.translate({ event: 'pusher:subscribe', data: { channel: 'private-a', auth: `k:${hmac('1.2:private-a', 'other')}` } });
    assert.throws(() => bad.steps[0]!.guard!(), (e: ReplyError) => e.code === 'unauthorized');
    // Another socket's signature does not do.
    const replay = d.translate({ event: 'pusher:subscribe', data: { channel: 'private-a', auth: `k:${hmac('9.9:private-a')}` } });
    assert.throws(() => replay.steps[0]!.guard!(), (e: ReplyError) => e.code === 'unauthorized');
  });

  it('a presence subscribe signs channel_data and names the member from it', () => {
    const d = dialect();
    const cd = JSON.stringify({ user_id: 7, user_info: { n: 'x' } });
    const t = d.translate({ event: 'pusher:subscribe', data: { channel: 'presence-r', auth: `k:${hmac(`1.2:presence-r:${cd}`)}`, channel_data: cd } });
    t.steps[0]!.guard!();
    assert.deepEqual(d.members.get('presence-r'), { user: '7', client: '1.2', info: { n: 'x' } });
    assert.throws(() => d.translate({ event: 'pusher:subscribe', data: { channel: 'presence-r', auth: 'k:x' } }), CommandError);
  });

  it('client events publish excluding the sender, only on subscribed private and presence channels', () => {
    const d = dialect();
    const t = d.translate({ event: 'client-typing', channel: 'private-c', data: { a: 1 } });
    assert.deepEqual(t.steps[0]!.command, { id: null, method: 'publish', params: { channel: 'private-c', event: 'client-typing', data: '{"a":1}', excludeSelf: true } });
    assert.throws(() => t.steps[0]!.guard!(), (e: ReplyError) => e.code === 'not_subscribed');
    subscribed.add('private-c');
    t.steps[0]!.guard!();
    assert.throws(() => d.translate({ event: 'client-typing', channel: 'public', data: {} }), (e: CommandError) => e.code === 'permission_denied');
  });

  it('refuses unknown events and bad channel names; answers errors in Pusher shapes', () => {
    const d = dialect();
    assert.throws(() => d.translate({ event: 'pusher:nope' }), (e: CommandError) => e.code === 'unknown_method');
    assert.throws(() => d.translate({ event: 'pusher:subscribe', data: { channel: 'a b' } }), (e: CommandError) => e.code === 'invalid_channel');
    assert.deepEqual(JSON.parse(d.errorJson(null, { code: 'bad_request', message: 'm' })), { event: 'pusher:error', data: { code: null, message: 'm', switchboard_code: 'bad_request' } });
    const sub = d.errorJson(null, { code: 'unauthorized', message: 'm' }, { id: null, method: 'subscribe', params: { channel: 'private-a' } });
    assert.deepEqual(JSON.parse(sub), { event: 'pusher:subscription_error', channel: 'private-a', data: { type: 'AuthError', error: 'm', status: 401, switchboard_code: 'unauthorized' } });
  });
});

describe('an app with a namespace', () => {
  const app2: PusherAppConfig = { appId: '2', key: 'k2', secret: 's2', namespace: 'app2', clientEvents: false };
  const sign = (text: string) => `k2:${hmac(text, 's2')}`;

  it('its channels are native channels in its namespace, signed by their Pusher names with its secret', () => {
    const d = dialect(app2);
    const t = d.translate({ event: 'pusher:subscribe', data: { channel: 'private-a', auth: sign('1.2:private-a') } });
    assert.deepEqual(t.steps[0]!.command, { id: null, method: 'subscribe', params: { channel: 'app2:private-a' } });
    t.steps[0]!.guard!();
    // The default app's signature (its key and secret) does not open app2's channel.
    const other = d.translate({ event: 'pusher:subscribe', data: { channel: 'private-a', auth: `k:${hmac('1.2:private-a')}` } });
    assert.throws(() => other.steps[0]!.guard!(), (e: ReplyError) => e.code === 'unauthorized');
    assert.deepEqual(d.translate({ event: 'pusher:unsubscribe', data: { channel: 'news' } }).steps[0]!.command.params, { channel: 'app2:news' });
    // A Pusher name cannot hold ":", so no app reaches into a namespace.
    assert.throws(() => dialect().translate({ event: 'pusher:subscribe', data: { channel: 'app2:news' } }), (e: CommandError) => e.code === 'invalid_channel');
    // Its own clientEvents.
    assert.throws(() => d.translate({ event: 'client-x', channel: 'private-a', data: {} }), (e: CommandError) => e.code === 'permission_denied' && /this app/.test(e.message));
    // A refused subscription is answered on the Pusher name.
    assert.equal(JSON.parse(d.errorJson(null, { code: 'unauthorized', message: 'm' }, { id: null, method: 'subscribe', params: { channel: 'app2:private-a' } })).channel, 'private-a');
  });

  it('a sign-in makes the connection the native user ns:id', () => {
    const users: string[] = [];
    const d = dialect(app2, (u) => users.push(u) > 0);
    const userData = '{"id":"carol"}';
    d.translate({ event: 'pusher:signin', data: { auth: sign(`1.2::user::${userData}`), user_data: userData } }).steps[0]!.guard!();
    assert.deepEqual(users, ['app2:carol']);
  });

  it('names map both ways: channels, the user channel, and namespaces found before any #', () => {
    assert.equal(nativeChannelOf('', 'news'), 'news');
    assert.equal(nativeChannelOf('app2', 'news'), 'app2:news');
    assert.equal(nativeChannelOf('', '#server-to-user-a:b'), 'pusher-user#a:b');
    assert.equal(nativeChannelOf('app2', '#server-to-user-carol'), 'app2:pusher-user#app2:carol');
    assert.equal(nativeChannelOf('app2', 'a:b'), undefined);
    assert.equal(nativeChannelOf('', '#server-to-user-'), undefined);
    for (const [ns, name] of [['', 'news'], ['app2', 'presence-r'], ['', '#server-to-user-a:b'], ['app2', '#server-to-user-x:y']] as const) {
      const native = nativeChannelOf(ns, name)!;
      assert.equal(pusherChannelOf(native), name);
      assert.equal(appNamespaceOf(native), ns);
    }
    assert.equal(nativeUserOf('', 'u'), 'u');
    assert.equal(nativeUserOf('app2', 'u'), 'app2:u');
  });
});

describe('Pusher signatures', () => {
  it('channel and sign-in signatures', () => {
    assert.equal(channelAuthValid(app, '1.2', 'private-a', `k:${hmac('1.2:private-a')}`), true);
    assert.equal(channelAuthValid(app, '1.2', 'private-a', `other:${hmac('1.2:private-a')}`), false);
    assert.equal(channelAuthValid(app, '1.2', 'private-a', 42), false);
    assert.equal(signinValid(app, '1.2', `k:${hmac('1.2::user::{"id":"u"}')}`, '{"id":"u"}'), true);
    assert.equal(signinValid(app, '1.2', `k:${hmac('1.2::user::{"id":"u"}')}`, '{"id":"v"}'), false);
  });

  it('request signatures with body_md5 and a timestamp window', () => {
    const body = Buffer.from('{"name":"e"}');
    const now = 1_700_000_000_000;
    const query = (ts: number, extra = '') => {
      const q = `auth_key=k&auth_timestamp=${ts}&auth_version=1.0&body_md5=${createHash('md5').update(body).digest('hex')}${extra}`;
      return new URLSearchParams(`${q}&auth_signature=${hmac(`POST\n/apps/1/events\n${q}`)}`);
    };
    assert.equal(requestRefusal(app, 'POST', '/apps/1/events', query(now / 1000), body, now, 600_000), undefined);
    assert.match(requestRefusal(app, 'POST', '/apps/1/events', query(now / 1000 - 601), body, now, 600_000)!, /auth_timestamp/);
    assert.match(requestRefusal(app, 'POST', '/apps/1/events', query(now / 1000), Buffer.from('{}'), now, 600_000)!, /body_md5/);
    assert.match(requestRefusal(app, 'GET', '/apps/1/events', query(now / 1000), body, now, 600_000)!, /auth_signature is wrong/);
    assert.match(requestRefusal(app, 'POST', '/apps/1/events', new URLSearchParams('auth_key=k'), body, now, 600_000)!, /missing/);
  });
});

describe('Pusher data', () => {
  it('JSON text stays the value it encodes; other strings become JSON strings, and back', () => {
    assert.equal(pusherDataJson('{"a":1}'), '{"a":1}');
    assert.equal(pusherDataJson('hello'), '"hello"');
    assert.equal(pusherDataString('{"a":1}'), '{"a":1}');
    assert.equal(pusherDataString('"hello"'), 'hello');
  });
});
