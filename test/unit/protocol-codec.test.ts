/**
 * The JSON codec of the wire protocol, fed raw text the way a socket delivers it: every command of the native
 * vocabulary and of the two seed vocabularies (through the session's dialect adapters, src/session/dialects/), every
 * class of malformed frame (each must end as a CommandError with a stable code, never as any other exception), and
 * the encoders of every server → client frame.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CommandError,
  connectedJson,
  directMessageJson,
  Disconnects,
  ErrorCode,
  errorJson,
  memberEventJson,
  publicationJson,
  ReplyError,
  resultJson,
  skipJson,
  type Command,
  type CommandId,
  type DecodeLimits,
  type ServerPublication,
} from '../../src/protocol/index.js';
import { DialectError, isSeed000Chat, publicationJsonIn, seed000ChatJson } from '../../src/session/dialects/index.js';
import { Seed000Dialect } from '../../src/session/dialects/seed000.js';
import { Seed002Dialect } from '../../src/session/dialects/seed002.js';
import { decodeAny as decodeCommand, FRAME_USER, SEED000_CHANNEL, type DecodedFrame as Decoded } from '../helpers/frames.js';

type Dialect = 'native' | 'seed002' | 'seed000';
const ALL_CODES = new Set<string>(Object.values(ErrorCode));
const DIALECTS = new Set<string>(['native', 'seed002', 'seed000']);

/** Decodes a frame given as an object (serialized here) or as raw text. */
function decode(frame: unknown, limits?: DecodeLimits): Decoded {
  return decodeCommand(typeof frame === 'string' ? frame : JSON.stringify(frame), limits);
}

function native(frame: unknown, limits?: DecodeLimits): Command {
  const d = decode(frame, limits);
  assert.equal(d.dialect, 'native');
  return d.command;
}

/** The DialectError a frame is refused with; fails the test on success or on any other exception type. */
function refusal(frame: unknown, limits?: DecodeLimits): DialectError {
  let decoded: Decoded;
  try {
    decoded = decode(frame, limits);
  } catch (err) {
    assert.ok(err instanceof DialectError, `expected a DialectError, got ${String(err)}`);
    assert.ok(ALL_CODES.has(err.code), `unknown code ${err.code}`);
    return err;
  }
  assert.fail(`expected a DialectError for ${typeof frame === 'string' ? frame : JSON.stringify(frame)}, got ${JSON.stringify(decoded.command)}`);
}

function refused(frame: unknown, code: string, id: CommandId = null, dialect: Dialect = 'native', limits?: DecodeLimits): DialectError {
  const err = refusal(frame, limits);
  const shown = typeof frame === 'string' ? frame : JSON.stringify(frame);
  assert.equal(err.code, code, `code for ${shown} (message: ${err.message})`);
  assert.equal(err.id, id, `id for ${shown}`);
  assert.equal(err.dialect.name, dialect, `dialect for ${shown}`);
  assert.ok(err.message.length > 0);
  return err;
}

const EPOCH = 'k3f9x2ab';

describe('decodeCommand: native commands', () => {
  it('reads the id as a number, a string, null or absent', () => {
    assert.equal(native({ id: 1, method: 'ping' }).id, 1);
    assert.equal(native({ id: 0, method: 'ping' }).id, 0);
    assert.equal(native({ id: -7, method: 'ping' }).id, -7);
    assert.equal(native({ id: Number.MAX_SAFE_INTEGER, method: 'ping' }).id, Number.MAX_SAFE_INTEGER);
    assert.equal(native({ id: 'req-1', method: 'ping' }).id, 'req-1');
    assert.equal(native({ id: '', method: 'ping' }).id, '');
    assert.equal(native({ id: 'x'.repeat(64), method: 'ping' }).id, 'x'.repeat(64));
    assert.equal(native({ id: null, method: 'ping' }).id, null);
    assert.equal(native({ method: 'ping' }).id, null);
    // A float written as an integer is the same JSON number.
    assert.equal(native('{"id":2.0,"method":"ping"}').id, 2);
  });

  it('subscribe, with and without since', () => {
    assert.deepEqual(native({ id: 1, method: 'subscribe', params: { channel: 'news' } }), {
      id: 1,
      method: 'subscribe',
      params: { channel: 'news', since: undefined, token: undefined },
    });
    assert.deepEqual(native({ id: 'a', method: 'subscribe', params: { channel: 'news', since: { epoch: EPOCH, offset: 0 } } }), {
      id: 'a',
      method: 'subscribe',
      params: { channel: 'news', since: { epoch: EPOCH, offset: 0 }, token: undefined },
    });
    // since: null means "no resume"; extra fields of since are dropped.
    assert.equal((native({ method: 'subscribe', params: { channel: 'n', since: null } }) as any).params.since, undefined);
    assert.deepEqual((native({ method: 'subscribe', params: { channel: 'n', since: { epoch: 'a', offset: 5, x: 1 } } }) as any).params.since, {
      epoch: 'a',
      offset: 5,
    });
    assert.deepEqual((native({ method: 'subscribe', params: { channel: 'n', since: { epoch: 'z'.repeat(32), offset: Number.MAX_SAFE_INTEGER } } }) as any).params.since, {
      epoch: 'z'.repeat(32),
      offset: Number.MAX_SAFE_INTEGER,
    });
  });

  it('unsubscribe and presence', () => {
    assert.deepEqual(native({ id: 2, method: 'unsubscribe', params: { channel: 'news' } }), { id: 2, method: 'unsubscribe', params: { channel: 'news' } });
    assert.deepEqual(native({ id: 3, method: 'presence', params: { channel: 'news' } }), { id: 3, method: 'presence', params: { channel: 'news' } });
  });

  it('accepts every allowed channel character, up to the length limit', () => {
    const name = 'chat:room-1_x.y#alice@z/w=v,u';
    assert.equal((native({ method: 'subscribe', params: { channel: name } }) as any).params.channel, name);
    assert.equal((native({ method: 'subscribe', params: { channel: 'c'.repeat(255) } }) as any).params.channel.length, 255);
    const limits = { maxChannelLength: 10, maxHistoryLimit: 1000 };
    assert.equal((native({ method: 'subscribe', params: { channel: 'c'.repeat(10) } }, limits) as any).params.channel.length, 10);
  });

  it('publish: data of every JSON type, kept as JSON text', () => {
    const values: unknown[] = [null, true, false, 0, -1.5, 1e21, '', 'text with "quotes" and\nnewline ✓', [], [1, 'a', null], {}, { a: { b: [1, { c: null }] } }];
    for (const data of values) {
      const cmd = native({ id: 9, method: 'publish', params: { channel: 'news', data } });
      assert.equal(cmd.method, 'publish');
      assert.equal((cmd as any).params.data, JSON.stringify(data));
      assert.deepEqual(JSON.parse((cmd as any).params.data), data);
    }
    assert.deepEqual(native({ id: 9, method: 'publish', params: { channel: 'news', data: { x: 1 } } }), {
      id: 9,
      method: 'publish',
      params: { channel: 'news', event: 'message', data: '{"x":1}', traceparent: undefined, tracestate: undefined },
    });
  });

  it('publish: event defaults to "message" (also when null), custom events and trace context are kept', () => {
    assert.equal((native({ method: 'publish', params: { channel: 'c', data: 1 } }) as any).params.event, 'message');
    assert.throws(() => native({ method: 'publish', params: { channel: 'c', data: 1, event: null } }), (e: any) => e.code === 'invalid_event');
    assert.equal((native({ method: 'publish', params: { channel: 'c', data: 1, event: 'chat.msg_v2:x-y' } }) as any).params.event, 'chat.msg_v2:x-y');
    assert.equal((native({ method: 'publish', params: { channel: 'c', data: 1, event: 'e'.repeat(64) } }) as any).params.event.length, 64);
    const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const p = (native({ method: 'publish', params: { channel: 'c', data: 1, traceparent: tp, tracestate: 'k=v' } }) as any).params;
    assert.equal(p.traceparent, tp);
    assert.equal(p.tracestate, 'k=v');
  });

  it('publish: exclude_self true becomes excludeSelf; false and null leave it out; anything else is bad_request', () => {
    const params = (extra: object) => (native({ method: 'publish', params: { channel: 'c', data: 1, ...extra } }) as any).params;
    assert.equal(params({ exclude_self: true }).excludeSelf, true);
    for (const v of [false, null, undefined]) assert.equal('excludeSelf' in params({ exclude_self: v }), false, String(v));
    for (const v of ['true', 1, {}]) {
      assert.throws(() => native({ id: 3, method: 'publish', params: { channel: 'c', data: 1, exclude_self: v } }), (e: any) => e.code === 'bad_request' && e.message === '"exclude_self" must be a boolean' && e.id === 3);
    }
  });

  it('skip push: channel, epoch and offset of the skipped publication', () => {
    const pub = { channel: 'chat:1', event: 'message', data: '1', epoch: 'ab12cd34', offset: 7, time: 0 };
    assert.deepEqual(JSON.parse(skipJson(pub)), { push: 'skip', channel: 'chat:1', epoch: 'ab12cd34', offset: 7 });
  });

  it('history: limit, since and reverse', () => {
    assert.deepEqual(native({ id: 4, method: 'history', params: { channel: 'news' } }), {
      id: 4,
      method: 'history',
      params: { channel: 'news', since: undefined, limit: undefined, reverse: undefined },
    });
    assert.deepEqual(native({ id: 4, method: 'history', params: { channel: 'news', since: { epoch: EPOCH, offset: 3 }, limit: 10, reverse: true } }), {
      id: 4,
      method: 'history',
      params: { channel: 'news', since: { epoch: EPOCH, offset: 3 }, limit: 10, reverse: true },
    });
    assert.equal((native({ method: 'history', params: { channel: 'n', limit: 0 } }) as any).params.limit, 0);
    assert.equal((native({ method: 'history', params: { channel: 'n', limit: 1000 } }) as any).params.limit, 1000);
    assert.equal((native({ method: 'history', params: { channel: 'n', reverse: false } }) as any).params.reverse, false);
    assert.equal((native({ method: 'history', params: { channel: 'n', limit: 5 } }, { maxChannelLength: 255, maxHistoryLimit: 5 }) as any).params.limit, 5);
    // `before`: where a newest-first read cut by the reply's byte bound goes on.
    assert.deepEqual((native({ method: 'history', params: { channel: 'n', before: { epoch: EPOCH, offset: 9 }, reverse: true } }) as any).params.before, { epoch: EPOCH, offset: 9 });
  });

  it('ping, with or without params', () => {
    assert.deepEqual(native({ id: 5, method: 'ping' }), { id: 5, method: 'ping', params: {} });
    assert.deepEqual(native({ id: 5, method: 'ping', params: {} }), { id: 5, method: 'ping', params: {} });
    assert.deepEqual(native({ id: 5, method: 'ping', params: { ignored: true } }), { id: 5, method: 'ping', params: {} });
  });

  it('"method" wins over seed fields in the same frame', () => {
    const d = decode({ method: 'ping', type: 'join_room', action: 'chat' });
    assert.equal(d.dialect, 'native');
    assert.equal(d.command.method, 'ping');
  });

  it('tolerates whitespace around and inside the frame', () => {
    assert.equal(native(' \n{ "id" : 1 , "method" : "ping" }\t').method, 'ping');
  });
});

describe('decodeCommand: malformed native frames', () => {
  it('not JSON → invalid_json', () => {
    for (const text of ['', ' ', 'not json', '{', '{"method":', "{'method':'ping'}", '{"method":"ping",}', 'undefined', 'NaN', '\u0000']) {
      refused(text, ErrorCode.InvalidJson);
    }
  });

  it('JSON but not an object → invalid_json', () => {
    for (const text of ['[]', '[{"method":"ping"}]', '1', '-0.5', '"ping"', 'null', 'true', 'false']) refused(text, ErrorCode.InvalidJson);
  });

  it('an object without method, type or action → bad_request, echoing a readable id', () => {
    refused({}, ErrorCode.BadRequest);
    refused({ id: 3 }, ErrorCode.BadRequest, 3);
    refused({ id: 'q', params: { channel: 'a' } }, ErrorCode.BadRequest, 'q');
    refused({ id: 1.5 }, ErrorCode.BadRequest, null);
  });

  it('unknown method → unknown_method with the id', () => {
    refused({ id: 7, method: 'frobnicate' }, ErrorCode.UnknownMethod, 7);
    refused({ id: 'x', method: '' }, ErrorCode.UnknownMethod, 'x');
    refused({ method: 'Subscribe', params: { channel: 'a' } }, ErrorCode.UnknownMethod, null);
    refused({ id: 1, method: 'seed.ping' }, ErrorCode.UnknownMethod, 1); // internal names are not wire methods
    refused({ id: 1, method: 'constructor' }, ErrorCode.UnknownMethod, 1);
    refused({ id: 1, method: '__proto__' }, ErrorCode.UnknownMethod, 1);
    // The message quotes at most 64 characters of the method.
    assert.ok(refused({ id: 1, method: 'm'.repeat(10_000) }, ErrorCode.UnknownMethod, 1).message.length < 200);
  });

  it('method not a string → bad_request with the id', () => {
    for (const method of [5, null, true, [], {}, ['ping']]) refused({ id: 8, method }, ErrorCode.BadRequest, 8);
  });

  it('params not an object → bad_request with the id', () => {
    for (const params of [null, [], ['news'], 'news', 1, true]) refused({ id: 9, method: 'subscribe', params }, ErrorCode.BadRequest, 9);
  });

  it('missing channel → bad_request, for every method that needs one', () => {
    for (const method of ['subscribe', 'unsubscribe', 'publish', 'presence', 'history']) {
      refused({ id: 10, method, params: { data: 1 } }, ErrorCode.BadRequest, 10);
      refused({ id: 10, method }, ErrorCode.BadRequest, 10);
    }
  });

  it('channel of the wrong type, empty, too long or with bad characters → invalid_channel', () => {
    const bad: unknown[] = [5, null, true, [], ['a'], {}, '', 'c'.repeat(256), 'a b', 'a\nb', 'ä', 'a*', 'a?', 'a%20', 'a"b', 'a\u0000', ' a', '💬'];
    for (const method of ['subscribe', 'unsubscribe', 'publish', 'presence', 'history']) {
      for (const channel of bad) refused({ id: 11, method, params: { channel, data: 1 } }, ErrorCode.InvalidChannel, 11);
    }
    refused({ id: 11, method: 'subscribe', params: { channel: 'c'.repeat(11) } }, ErrorCode.InvalidChannel, 11, 'native', { maxChannelLength: 10, maxHistoryLimit: 1000 });
  });

  it('malformed since (or history before) → bad_request', () => {
    const bad: unknown[] = [
      { epoch: EPOCH, offset: -1 },
      { epoch: EPOCH, offset: 1.5 },
      { epoch: EPOCH, offset: '1' },
      { epoch: EPOCH, offset: null },
      { epoch: EPOCH, offset: 2 ** 53 },
      { epoch: EPOCH, offset: 1e300 },
      { epoch: EPOCH },
      { offset: 1 },
      { epoch: '', offset: 1 },
      { epoch: 'ABC', offset: 1 },
      { epoch: 'a-b', offset: 1 },
      { epoch: 'a:b', offset: 1 },
      { epoch: 'a'.repeat(33), offset: 1 },
      { epoch: 5, offset: 1 },
      {},
      [],
      [EPOCH, 1],
      `${EPOCH}:1`,
      1,
      true,
    ];
    for (const since of bad) {
      refused({ id: 12, method: 'subscribe', params: { channel: 'a', since } }, ErrorCode.BadRequest, 12);
      refused({ id: 12, method: 'history', params: { channel: 'a', since } }, ErrorCode.BadRequest, 12);
      if (since !== null) refused({ id: 12, method: 'history', params: { channel: 'a', before: since } }, ErrorCode.BadRequest, 12);
    }
  });

  it('history limit out of range or not an integer → bad_request', () => {
    for (const limit of [-1, 1001, 1.5, '10', null, true, [], {}, 1e300]) {
      refused({ id: 13, method: 'history', params: { channel: 'a', limit } }, ErrorCode.BadRequest, 13);
    }
    refused({ id: 13, method: 'history', params: { channel: 'a', limit: 6 } }, ErrorCode.BadRequest, 13, 'native', { maxChannelLength: 255, maxHistoryLimit: 5 });
  });

  it('history reverse not a boolean → bad_request', () => {
    for (const reverse of ['true', 1, 0, null, [], {}]) {
      refused({ id: 14, method: 'history', params: { channel: 'a', reverse } }, ErrorCode.BadRequest, 14);
    }
  });

  it('publish without data → bad_request', () => {
    refused({ id: 15, method: 'publish', params: { channel: 'a' } }, ErrorCode.BadRequest, 15);
    refused({ id: 15, method: 'publish', params: { channel: 'a', event: 'e' } }, ErrorCode.BadRequest, 15);
  });

  it('publish with an invalid event → invalid_event', () => {
    for (const event of ['', 'a b', 'e'.repeat(65), 'a/b', 'a#b', 'a,b', 'ä', 'line\nbreak', 5, true, [], {}]) {
      refused({ id: 16, method: 'publish', params: { channel: 'a', event, data: 1 } }, ErrorCode.InvalidEvent, 16);
    }
  });

  it('publish with trace context of the wrong type or too long → bad_request', () => {
    for (const extra of [{ traceparent: 5 }, { traceparent: 't'.repeat(129) }, { traceparent: '00-"}-x-01' }, { tracestate: null }, { tracestate: 's'.repeat(513) }]) {
      refused({ id: 17, method: 'publish', params: { channel: 'a', data: 1, ...extra } }, ErrorCode.BadRequest, 17);
    }
  });

  it('id too long, fractional, unsafe or of another type → bad_request without an id (it was not readable)', () => {
    for (const id of ['x'.repeat(65), 1.5, -0.1, 2 ** 53, 1e300, true, false, [], [1], {}, { id: 1 }]) {
      refused({ id, method: 'ping' }, ErrorCode.BadRequest, null);
      refused({ id, method: 'subscribe', params: { channel: 'a' } }, ErrorCode.BadRequest, null);
    }
  });

  it('data nested too deeply to serialize → a CommandError, not a RangeError', () => {
    // ~40 KB of brackets: well under websocket.maxMessageSize, yet JSON.stringify overflows the stack on it.
    const depth = 20_000;
    const nested = '['.repeat(depth) + ']'.repeat(depth);
    refused(`{"id":18,"method":"publish","params":{"channel":"a","data":${nested}}}`, ErrorCode.BadRequest, 18);
    refused(`{"action":"chat","data":${nested}}`, ErrorCode.BadRequest, null, 'seed000');
  });
});

describe('decodeCommand: seed 002 vocabulary ({"type", "payload"})', () => {
  const seed = (frame: unknown) => {
    const d = decode(frame);
    assert.equal(d.dialect, 'seed002');
    return d.command;
  };

  it('join_room and leave_room map to subscribe and unsubscribe of room_id', () => {
    assert.deepEqual(seed({ type: 'join_room', payload: { room_id: 'r1' } }), { id: null, method: 'subscribe', params: { channel: 'r1' } });
    assert.deepEqual(seed({ type: 'leave_room', payload: { room_id: 'r1' } }), { id: null, method: 'unsubscribe', params: { channel: 'r1' } });
  });

  it('send_to_room and send_to_user keep the whole payload, with the sender set by the server', () => {
    assert.deepEqual(seed({ type: 'send_to_room', payload: { room_id: 'r1', content: 'hi', user_id: 'mallory' } }), {
      id: null,
      method: 'publish',
      params: { channel: 'r1', event: 'chat_message', data: JSON.stringify({ room_id: 'r1', content: 'hi', user_id: FRAME_USER }) },
    });
    assert.deepEqual(seed({ type: 'send_to_user', payload: { user_id: 'bob', content: 'psst' } }), {
      id: null,
      method: 'send',
      params: { user: 'bob', event: 'direct_message', data: JSON.stringify({ user_id: 'bob', content: 'psst', from_user_id: FRAME_USER }) },
    });
    assert.equal((seed({ type: 'send_to_user', payload: { user_id: 'u'.repeat(255) } }) as any).params.user.length, 255);
  });

  it('a payload nested too deeply to serialize → bad_request in seed 002', () => {
    const depth = 20_000;
    refused(`{"type":"send_to_room","payload":{"room_id":"r","x":${'['.repeat(depth) + ']'.repeat(depth)}}}`, ErrorCode.BadRequest, null, 'seed002');
  });

  it('ignores an id: seed frames are never answered by id', () => {
    assert.equal(seed({ id: 5, type: 'join_room', payload: { room_id: 'r1' } }).id, null);
    refused({ id: 5, type: 'nope' }, ErrorCode.UnknownMethod, null, 'seed002');
  });

  it('type wins over action', () => {
    assert.equal(decode({ type: 'join_room', action: 'ping', payload: { room_id: 'r' } }).dialect, 'seed002');
  });

  it('missing or wrong room_id / user_id, bad payload, unknown or non-string type', () => {
    for (const type of ['join_room', 'leave_room', 'send_to_room']) {
      refused({ type, payload: {} }, ErrorCode.BadRequest, null, 'seed002');
      refused({ type }, ErrorCode.BadRequest, null, 'seed002');
      refused({ type, payload: { roomId: 'r1' } }, ErrorCode.BadRequest, null, 'seed002');
      for (const room_id of [5, null, '', 'r'.repeat(256), 'a b', []]) refused({ type, payload: { room_id } }, ErrorCode.InvalidChannel, null, 'seed002');
      for (const payload of [null, [], 'r1', 1]) refused({ type, payload }, ErrorCode.BadRequest, null, 'seed002');
    }
    for (const user_id of [undefined, 5, null, '', 'u'.repeat(256), {}, []]) {
      refused({ type: 'send_to_user', payload: { user_id } }, ErrorCode.BadRequest, null, 'seed002');
    }
    refused({ type: 'send_to_user' }, ErrorCode.BadRequest, null, 'seed002');
    refused({ type: 'shout', payload: {} }, ErrorCode.UnknownMethod, null, 'seed002');
    refused({ type: '' }, ErrorCode.UnknownMethod, null, 'seed002');
    for (const type of [5, null, true, [], {}]) refused({ type }, ErrorCode.BadRequest, null, 'seed002');
  });
});

describe('decodeCommand: seed 000 vocabulary ({"action", "data"})', () => {
  const seed = (frame: unknown) => {
    const d = decode(frame);
    assert.equal(d.dialect, 'seed000');
    return d.command;
  };

  const chat = (data: string) => ({ id: null, method: 'publish', params: { channel: SEED000_CHANNEL, event: 'chat', data } });

  it('ping and chat', () => {
    assert.deepEqual(seed({ action: 'ping' }), { id: null, method: 'ping', params: {} });
    assert.deepEqual(seed({ action: 'ping', data: 'ignored' }), { id: null, method: 'ping', params: {} });
    assert.equal(decode({ action: 'ping' }).decoded.reply, '{"action":"pong"}');
    assert.deepEqual(seed({ action: 'chat', data: { text: 'hi' } }), chat('{"text":"hi"}'));
    assert.deepEqual(seed({ action: 'chat', data: null }), chat('null'));
    assert.deepEqual(seed({ action: 'chat', data: 'hello' }), chat('"hello"'));
  });

  it('the first frames join the seed 000 channel until the join is allowed', () => {
    const d = new Seed000Dialect({ userId: FRAME_USER, seed000Channel: SEED000_CHANNEL, limits: { maxChannelLength: 255, maxHistoryLimit: 1000 } });
    const methods = () => d.translate({ action: 'chat', data: 1 }).steps.map((s) => s.command.method);
    assert.deepEqual(methods(), ['subscribe', 'publish']);
    const join = d.translate({ action: 'ping' }).steps[0]!;
    assert.deepEqual(join.command, { id: null, method: 'subscribe', params: { channel: SEED000_CHANNEL } });
    // Still not joined (the session tells the adapter once the subscription was allowed).
    assert.deepEqual(methods(), ['subscribe', 'publish']);
    join.join!.joined();
    assert.deepEqual(methods(), ['publish']);
    assert.deepEqual(d.translate({ action: 'ping' }).steps.map((s) => s.command.method), ['ping']);
  });

  it('chat without data, unknown or non-string action', () => {
    refused({ action: 'chat' }, ErrorCode.BadRequest, null, 'seed000');
    refused({ action: 'dance' }, ErrorCode.UnknownMethod, null, 'seed000');
    refused({ action: '' }, ErrorCode.UnknownMethod, null, 'seed000');
    refused({ action: 'PING' }, ErrorCode.UnknownMethod, null, 'seed000');
    for (const action of [5, null, true, [], {}]) refused({ action }, ErrorCode.BadRequest, null, 'seed000');
  });
});

/** Deterministic PRNG (mulberry32), so a failing mutation can be reproduced from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('decodeCommand: fuzz', () => {
  const VALID = [
    { id: 1, method: 'subscribe', params: { channel: 'news', since: { epoch: EPOCH, offset: 4 } } },
    { id: 'u', method: 'unsubscribe', params: { channel: 'news' } },
    { id: 2, method: 'publish', params: { channel: 'chat:1', event: 'msg', data: { text: 'hi', n: [1, 2.5, null, true] } } },
    { id: 3, method: 'presence', params: { channel: 'inbox#alice' } },
    { id: 4, method: 'history', params: { channel: 'news', since: { epoch: EPOCH, offset: 0 }, limit: 10, reverse: false } },
    { id: 5, method: 'ping' },
    { type: 'join_room', payload: { room_id: 'r1' } },
    { type: 'send_to_room', payload: { room_id: 'r1', content: 'hi' } },
    { type: 'send_to_user', payload: { user_id: 'bob', content: 'hi' } },
    { action: 'ping' },
    { action: 'chat', data: { text: 'hi' } },
  ];
  const JUNK = ['{', '}', '[', ']', '"', ':', ',', '\\', '0', '-', '.', 'e', 'n', 't', ' ', '\u0000', 'é', '💬', '\n', 'null', '[]', '{}'];
  const VALUES: unknown[] = [null, true, false, 0, -1, 1.5, 2 ** 53, -(2 ** 60), 1e308, '', 'x', 'a b', 'x'.repeat(300), [], [1], {}, { epoch: 'a', offset: 1 }, 'subscribe', 'join_room', 'chat'];

  function mutateText(text: string, r: () => number): string {
    const pos = Math.floor(r() * (text.length + 1));
    switch (Math.floor(r() * 6)) {
      case 0:
        return text.slice(0, pos) + text.slice(pos + 1 + Math.floor(r() * 4));
      case 1:
        return text.slice(0, pos) + JUNK[Math.floor(r() * JUNK.length)] + text.slice(pos);
      case 2:
        return text.slice(0, pos) + JUNK[Math.floor(r() * JUNK.length)] + text.slice(pos + 1);
      case 3:
        return text.slice(0, pos);
      case 4:
        return text.slice(0, pos) + text.slice(Math.floor(r() * text.length));
      default:
        return text + text.slice(pos);
    }
  }

  /** Replaces, adds or deletes one field somewhere in the frame's object tree. */
  function mutateValue(frame: unknown, r: () => number): unknown {
    const copy = JSON.parse(JSON.stringify(frame)) as Record<string, unknown>;
    const objects: Record<string, unknown>[] = [];
    const walk = (v: unknown) => {
      if (v && typeof v === 'object' && !Array.isArray(v)) {
        objects.push(v as Record<string, unknown>);
        for (const x of Object.values(v)) walk(x);
      }
    };
    walk(copy);
    const target = objects[Math.floor(r() * objects.length)]!;
    const keys = Object.keys(target);
    const roll = r();
    const value = VALUES[Math.floor(r() * VALUES.length)];
    if (roll < 0.2 && keys.length > 0) delete target[keys[Math.floor(r() * keys.length)]!];
    else if (roll < 0.35) target[['id', 'method', 'params', 'channel', 'since', 'data', 'event', 'type', 'payload', 'action'][Math.floor(r() * 10)]!] = value;
    else if (keys.length > 0) target[keys[Math.floor(r() * keys.length)]!] = value;
    return copy;
  }

  it('2000+ random mutations of valid frames end in a result or a CommandError, nothing else', () => {
    const r = rng(0x5eed);
    const outcomes = { ok: 0, refused: 0 };
    for (let i = 0; i < 2400; i++) {
      const base = VALID[i % VALID.length]!;
      let text: string;
      if (i % 2 === 0) {
        text = JSON.stringify(mutateValue(base, r));
      } else {
        text = JSON.stringify(base);
        const rounds = 1 + Math.floor(r() * 3);
        for (let k = 0; k < rounds; k++) text = mutateText(text, r);
      }
      try {
        const d = decodeCommand(text);
        assert.ok(DIALECTS.has(d.dialect), text);
        assert.ok(d.decoded.steps.length > 0, text);
        assert.equal(typeof d.command.method, 'string', text);
        const id = d.command.id;
        assert.ok(id === null || typeof id === 'string' || Number.isSafeInteger(id), text);
        outcomes.ok++;
      } catch (err) {
        if (!(err instanceof DialectError)) assert.fail(`mutation #${i} threw ${String(err)} for ${JSON.stringify(text)}`);
        assert.ok(ALL_CODES.has(err.code), `mutation #${i}: code ${err.code}`);
        assert.ok(DIALECTS.has(err.dialect.name), `mutation #${i}: dialect ${err.dialect.name}`);
        assert.ok(err.id === null || typeof err.id === 'string' || Number.isSafeInteger(err.id), `mutation #${i}: id ${String(err.id)}`);
        outcomes.refused++;
      }
    }
    // Both branches were exercised, so the loop tests something.
    assert.ok(outcomes.ok > 100, JSON.stringify(outcomes));
    assert.ok(outcomes.refused > 100, JSON.stringify(outcomes));
  });
});

describe('CommandError, ReplyError and Disconnects', () => {
  it('CommandError is a ReplyError whose JSON is {code, message}', () => {
    const e = new CommandError(ErrorCode.BadRequest, 'nope', 4);
    assert.ok(e instanceof ReplyError);
    assert.ok(e instanceof Error);
    assert.deepEqual(e.toJSON(), { code: 'bad_request', message: 'nope' });
    assert.equal(e.id, 4);
    const d = new CommandError(ErrorCode.Internal, 'x');
    assert.equal(d.id, null);
  });

  it('error codes are unique snake_case strings', () => {
    const codes = Object.values(ErrorCode);
    assert.equal(new Set(codes).size, codes.length);
    for (const c of codes) assert.match(c, /^[a-z]+(_[a-z]+)*$/);
  });

  it('the code range decides reconnect: below 4500 yes, 4500-4999 no; entries are frozen', () => {
    for (const d of Object.values(Disconnects)) {
      assert.equal(d.reconnect, d.code < 4500, `${d.code} ${d.reason}`);
      assert.ok(Object.isFrozen(d));
      assert.ok(Buffer.byteLength(d.reason) <= 123, 'a WebSocket close reason is at most 123 bytes');
    }
    assert.deepEqual(
      Object.values(Disconnects).map((d) => d.code),
      [1000, 1001, 4001, 4002, 4003, 4004, 4005, 4006, 4500, 4501, 4502, 4503],
    );
  });
});

describe('encoders', () => {
  const TIME = Date.UTC(2025, 0, 2, 3, 4, 5, 678);
  const ISO = '2025-01-02T03:04:05.678Z';
  const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  const pub = (over: Partial<ServerPublication> = {}): ServerPublication => ({
    channel: 'news',
    event: 'message',
    data: '{"hello":[1,2]}',
    epoch: EPOCH,
    offset: 7,
    time: TIME,
    ...over,
  });

  it('publicationJson: valid JSON with every field, data embedded verbatim', () => {
    const text = publicationJson(pub());
    assert.deepEqual(JSON.parse(text), {
      push: 'publication',
      channel: 'news',
      type: 'message',
      payload: { hello: [1, 2] },
      epoch: EPOCH,
      offset: 7,
      timestamp: ISO,
    });
    assert.ok(text.includes('"payload":{"hello":[1,2]}'), 'the data text is not re-serialized');
    assert.ok(text.startsWith('{"push":"publication",'));
    assert.equal(publicationJson(pub({ meta: undefined })), publicationJson(pub({ meta: {} })));
    for (const data of ['null', '"s"', '0', 'true', '[]', '{}', '"line1\\nline2"']) {
      assert.deepEqual(JSON.parse(publicationJson(pub({ data }))).payload, JSON.parse(data));
    }
  });

  it('publicationJson: traceparent adds trace_id and span_id; tracestate when non-empty', () => {
    const m = JSON.parse(publicationJson(pub({ meta: { traceparent: TRACEPARENT, tracestate: 'k=v,x=y' } })));
    assert.equal(m.traceparent, TRACEPARENT);
    assert.equal(m.tracestate, 'k=v,x=y');
    assert.equal(m.trace_id, '0af7651916cd43dd8448eb211c80319c');
    assert.equal(m.span_id, 'b7ad6b7169203331');
    const n = JSON.parse(publicationJson(pub({ meta: { traceparent: TRACEPARENT, tracestate: '' } })));
    assert.equal('tracestate' in n, false);
    // Not four dash-separated parts: kept as is, no ids derived from it.
    const o = JSON.parse(publicationJson(pub({ meta: { traceparent: 'not-a-traceparent' } })));
    assert.equal(o.traceparent, 'not-a-traceparent');
    assert.equal('trace_id' in o, false);
    assert.equal('span_id' in o, false);
  });

  it('publicationJson: a traceparent with JSON-special characters still yields valid JSON', () => {
    // Clients may send any string of up to 128 characters as traceparent (WebSocket publish, API body).
    for (const traceparent of ['00-"}-x-01', '00-a\\-b"-01', '0-\n-\u0001-"']) {
      const text = publicationJson(pub({ meta: { traceparent } }));
      const m = JSON.parse(text);
      assert.equal(m.traceparent, traceparent);
      assert.equal(m.offset, 7);
      const d = JSON.parse(directMessageJson({ event: 'e', data: '1', time: TIME, meta: { traceparent } }));
      assert.equal(d.traceparent, traceparent);
    }
  });

  it('seed 000 chats (event chat on the seed 000 channel) add action (the event) and data (the payload)', () => {
    const chat = pub({ channel: SEED000_CHANNEL, event: 'chat', data: '{"text":"hi"}' });
    assert.ok(isSeed000Chat(chat, SEED000_CHANNEL));
    const m = JSON.parse(seed000ChatJson(chat));
    assert.equal(m.action, 'chat');
    assert.deepEqual(m.data, { text: 'hi' });
    assert.deepEqual(m.payload, { text: 'hi' });
    assert.equal(m.type, 'chat');
    // The native fields come first, unchanged: the seed 000 shape only appends.
    assert.equal(seed000ChatJson(chat), publicationJson(chat).slice(0, -1) + ',"action":"chat","data":{"text":"hi"}}');
    const traced = pub({ channel: SEED000_CHANNEL, event: 'chat', meta: { traceparent: TRACEPARENT } });
    const both = JSON.parse(seed000ChatJson(traced));
    assert.equal(both.action, 'chat');
    assert.equal(both.trace_id, '0af7651916cd43dd8448eb211c80319c');
    // The native encoder knows no dialect; history reads pick the shape by channel and event.
    assert.equal('action' in JSON.parse(publicationJson(chat)), false);
    assert.equal(isSeed000Chat(pub({ channel: SEED000_CHANNEL, event: 'message' }), SEED000_CHANNEL), false);
    assert.equal(isSeed000Chat(pub({ channel: 'other', event: 'chat' }), SEED000_CHANNEL), false);
    assert.equal(publicationJsonIn(SEED000_CHANNEL, SEED000_CHANNEL)(chat), seed000ChatJson(chat));
    assert.equal(publicationJsonIn('other', SEED000_CHANNEL)(pub({ channel: 'other', event: 'chat' })), publicationJson(pub({ channel: 'other', event: 'chat' })));
  });

  it('directMessageJson: a push without a position', () => {
    assert.deepEqual(JSON.parse(directMessageJson({ event: 'direct_message', data: '{"a":1}', time: TIME })), {
      push: 'message',
      type: 'direct_message',
      payload: { a: 1 },
      timestamp: ISO,
    });
    const t = JSON.parse(directMessageJson({ event: 'message', data: 'null', time: TIME, meta: { traceparent: TRACEPARENT, tracestate: 'a=b' } }));
    assert.equal(t.payload, null);
    assert.equal(t.trace_id, '0af7651916cd43dd8448eb211c80319c');
    assert.equal(t.span_id, 'b7ad6b7169203331');
    assert.equal(t.tracestate, 'a=b');
  });

  it('memberEventJson and connectedJson', () => {
    assert.deepEqual(JSON.parse(memberEventJson('join', 'room', { user: 'alice', client: 'c-1' })), {
      push: 'join',
      channel: 'room',
      type: 'join',
      payload: { user: 'alice', client: 'c-1' },
      user: 'alice',
      client: 'c-1',
    });
    assert.deepEqual(JSON.parse(memberEventJson('leave', 'room', { user: 'bob', client: 'c-2', info: { name: 'Bob' } })), {
      push: 'leave',
      channel: 'room',
      type: 'leave',
      payload: { user: 'bob', client: 'c-2', info: { name: 'Bob' } },
      user: 'bob',
      client: 'c-2',
    });
    assert.deepEqual(JSON.parse(connectedJson({ client: 'c-1', user: 'alice', version: '0.1.0', protocol: 1, ping: 25 })), {
      push: 'connected',
      client: 'c-1',
      user: 'alice',
      version: '0.1.0',
      protocol: 1,
      ping: 25,
    });
  });

  it('errorJson: in the dialect of the command', () => {
    const body = { code: ErrorCode.InvalidChannel, message: 'bad "channel"' };
    assert.deepEqual(JSON.parse(errorJson(3, body)), { id: 3, error: body });
    assert.deepEqual(JSON.parse(errorJson('r', body)), { id: 'r', error: body });
    assert.deepEqual(JSON.parse(errorJson(null, body)), { id: null, error: body });
    const ctx = { userId: FRAME_USER, seed000Channel: SEED000_CHANNEL, limits: { maxChannelLength: 255, maxHistoryLimit: 1000 } };
    const s2 = JSON.parse(new Seed002Dialect(ctx).errorJson(null, body));
    assert.deepEqual(Object.keys(s2), ['type', 'payload', 'timestamp']);
    assert.equal(s2.type, 'error');
    assert.deepEqual(s2.payload, body);
    assert.ok(!Number.isNaN(Date.parse(s2.timestamp)));
    assert.deepEqual(JSON.parse(new Seed000Dialect(ctx).errorJson(null, body)), { action: 'error', data: body });
    // A ReplyError serializes to the same body (extra Error fields are not leaked).
    const e = new CommandError(ErrorCode.BadRequest, 'm', 9);
    assert.deepEqual(JSON.parse(errorJson(e.id, e)), { id: 9, error: { code: 'bad_request', message: 'm' } });
  });

  it('resultJson', () => {
    assert.equal(resultJson(1, { a: 1 }), '{"id":1,"result":{"a":1}}');
    assert.equal(resultJson('x', {}), '{"id":"x","result":{}}');
    assert.equal(resultJson(2, undefined), '{"id":2,"result":{}}');
    assert.equal(resultJson(2, null), '{"id":2,"result":{}}');
    assert.deepEqual(JSON.parse(resultJson('q"', { members: [{ user: 'a', client: 'b' }] })), { id: 'q"', result: { members: [{ user: 'a', client: 'b' }] } });
  });
});
