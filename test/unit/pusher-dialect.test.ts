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
import { pusherDataJson, pusherDataString } from '../../src/protocol/pusher-data.js';

const app = { appId: '1', key: 'k', secret: 's' };
const hmac = (text: string, secret = app.secret) => createHmac('sha256', secret).update(text).digest('hex');
const subscribed = new Set<string>();
const dialect = () =>
  new PusherDialect({ app, socketId: '1.2', limits: { maxChannelLength: 255, maxHistoryLimit: 100, maxKeyLength: 100 }, clientEvents: true, isSubscribed: (c) => subscribed.has(c), signIn: () => true });

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
