/**
 * Property-based fuzzing of the frame decoder (the session's dialect adapters, src/session/dialects/, over the
 * protocol's `decodeFrame`), the first code every untrusted WebSocket frame reaches. The contract under test: for ANY
 * text, the decoder either returns well-formed native commands or throws a DialectError whose code is one of
 * ErrorCode — never another exception (TypeError, RangeError from a stack overflow, ...), never a half-valid
 * command. And the converse: every correct frame, generated from an arbitrary of commands (native and both seed
 * vocabularies, unknown fields included), decodes to exactly the native command it stands for.
 *
 * Inputs per run (fast-check `numRuns`, each property bounded in time by `interruptAfterTimeLimit` so a slow machine
 * cuts the run short instead of timing out): see RUNS below, about 15,000 in total, ~3 s on 2 cores.
 * A failure prints fast-check's seed and path: replay with `{ seed, path }` in the property's parameters.
 */
import assert from 'node:assert/strict';
import { after, describe, it as nodeIt } from 'node:test';
import fc from 'fast-check';
import {
  CHANNEL_PATTERN,
  EPOCH_PATTERN,
  ErrorCode,
  EVENT_PATTERN,
  RESERVED_EVENTS,
  TRACEPARENT_PATTERN,
  type DecodeLimits,
} from '../../src/protocol/index.js';
import { DialectError as CommandError } from '../../src/session/dialects/index.js';
import { decodeAny as decodeCommand, FRAME_USER, SEED000_CHANNEL, type DecodedFrame as Decoded } from '../helpers/frames.js';

const LIMITS: DecodeLimits = { maxChannelLength: 255, maxHistoryLimit: 1000 };
const CODES = new Set<string>(Object.values(ErrorCode));
const DIALECTS = new Set(['native', 'seed002', 'seed000']);
/** Native methods a client may send (docs/protocol.md). A decoded command outside these is a finding. */
const NATIVE_METHODS = ['subscribe', 'unsubscribe', 'publish', 'presence', 'history', 'ping', 'refresh', 'send'] as const;

/** numRuns per property. */
const RUNS = {
  binaryStrings: 3000,
  graphemeStrings: 1000,
  jsonValues: 2000,
  framesWithJsonFields: 1500,
  trees: 600,
  deepNesting: 150,
  hugeStrings: 30,
  mutations: 3000,
  roundTrip: 3000,
  invalidUtf8: 1500,
  utf8InStrings: 800,
};
/** Upper bound of one property's wall time (ms); the whole file stays well under 20 s even when every one hits it. */
const TIME_LIMIT_MS = 1500;

let inputs = 0;
const params = (numRuns: number): fc.Parameters<unknown> => ({ numRuns, plugins: [fc.interruptAfterTimeLimit(TIME_LIMIT_MS)] });

after(() => {
  // Shown by the test runner: the number of decoder inputs this run generated in total.
  console.log(`fuzz-protocol: ${inputs} generated inputs decoded`);
});

/** `it`, reporting how many inputs the test decoded (a run cut short by the time limit shows here). */
function it(name: string, fn: () => void): void {
  nodeIt(name, (t) => {
    const before = inputs;
    const started = performance.now();
    fn();
    t.diagnostic(`${inputs - before} inputs in ${Math.round(performance.now() - started)} ms`);
  });
}

// --- oracle ------------------------------------------------------------------------------------------------------

function isValidId(id: unknown): boolean {
  return id === null || (typeof id === 'number' && Number.isSafeInteger(id)) || (typeof id === 'string' && id.length <= 64);
}

function isChannel(v: unknown): boolean {
  return typeof v === 'string' && v.length >= 1 && v.length <= LIMITS.maxChannelLength && CHANNEL_PATTERN.test(v);
}

function isPosition(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const p = v as Record<string, unknown>;
  return typeof p.epoch === 'string' && EPOCH_PATTERN.test(p.epoch) && typeof p.offset === 'number' && Number.isSafeInteger(p.offset) && p.offset >= 0;
}

function isJsonText(v: unknown): boolean {
  if (typeof v !== 'string') return false;
  try {
    JSON.parse(v);
    return true;
  } catch {
    return false;
  }
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks, independently of the decoder, that every native step of a decoded frame is one the session can execute safely. */
function assertWellFormed(d: Decoded, input: string): void {
  const where = () => `decoded ${JSON.stringify(d.decoded.steps.map((s) => s.command)).slice(0, 300)} (${d.dialect}) from ${JSON.stringify(input.slice(0, 300))}`;
  const ok = (cond: boolean, what: string) => {
    if (!cond) assert.fail(`${what}: ${where()}`);
  };
  ok(DIALECTS.has(d.dialect), 'dialect');
  ok(d.decoded.steps.length > 0, 'no steps');
  for (const step of d.decoded.steps) assertStep(step.command as { id: unknown; method: unknown; params: Record<string, unknown> }, d.dialect, ok);
}

function assertStep(c: { id: unknown; method: unknown; params: Record<string, unknown> }, dialect: string, ok: (cond: boolean, what: string) => void): void {
  // Translated steps are never answered by id.
  if (dialect !== 'native') ok(c.id === null, 'a seed step with an id');
  ok(isValidId(c.id), 'id');
  ok(isPlainObject(c.params), 'params');
  const p = c.params;
  switch (c.method) {
    case 'subscribe':
      ok(isChannel(p.channel) && (p.since === undefined || isPosition(p.since)), 'malformed');
      ok(p.token === undefined || (typeof p.token === 'string' && p.token.length <= 8192), 'malformed');
      break;
    case 'unsubscribe':
    case 'presence':
      ok(isChannel(p.channel), 'malformed');
      break;
    case 'publish':
      ok(isChannel(p.channel), 'malformed');
      ok(typeof p.event === 'string' && EVENT_PATTERN.test(p.event) && !RESERVED_EVENTS.has(p.event), 'event');
      ok(isJsonText(p.data), 'data');
      ok(p.traceparent === undefined || (typeof p.traceparent === 'string' && TRACEPARENT_PATTERN.test(p.traceparent)), 'malformed');
      ok(p.tracestate === undefined || (typeof p.tracestate === 'string' && p.tracestate.length <= 512), 'malformed');
      ok(p.excludeSelf === undefined || p.excludeSelf === true, 'malformed');
      break;
    case 'history':
      ok(isChannel(p.channel) && (p.since === undefined || isPosition(p.since)), 'malformed');
      ok(p.limit === undefined || (Number.isSafeInteger(p.limit) && (p.limit as number) >= 0 && (p.limit as number) <= LIMITS.maxHistoryLimit), 'malformed');
      ok(p.reverse === undefined || typeof p.reverse === 'boolean', 'malformed');
      break;
    case 'ping':
      break;
    case 'refresh':
      ok(typeof p.token === 'string' && p.token.length > 0 && p.token.length <= 8192, 'malformed');
      ok(p.channel === undefined || isChannel(p.channel), 'malformed');
      break;
    case 'send':
      ok(typeof p.user === 'string' && p.user.length > 0 && p.user.length <= 255, 'malformed');
      ok(typeof p.event === 'string' && EVENT_PATTERN.test(p.event) && !RESERVED_EVENTS.has(p.event), 'event');
      ok(isJsonText(p.data), 'data');
      break;
    default:
      ok(false, 'decoded an unknown method');
  }
  // What each seed may stand for: seed 000 only pings, joins and chats on its channel; seed 002's data carries its sender.
  if (dialect === 'seed000') {
    ok(c.method === 'ping' || ((c.method === 'subscribe' || c.method === 'publish') && p.channel === SEED000_CHANNEL), 'seed 000 step');
    if (c.method === 'publish') ok(p.event === 'chat', 'seed 000 chat event');
  }
  if (dialect === 'seed002' && c.method === 'publish') ok(p.event === 'chat_message' && JSON.parse(p.data as string).user_id === FRAME_USER, 'seed 002 send_to_room');
  if (dialect === 'seed002' && c.method === 'send') ok(p.event === 'direct_message' && JSON.parse(p.data as string).from_user_id === FRAME_USER, 'seed 002 send_to_user');
}

/**
 * The property every input must satisfy: a well-formed Command, or a CommandError with a known code, a dialect,
 * and an id that is a valid id (the session echoes it). Returns what happened.
 */
function decodeChecked(text: string): Decoded | CommandError {
  inputs++;
  let d: Decoded;
  try {
    d = decodeCommand(text, LIMITS);
  } catch (err) {
    if (!(err instanceof CommandError)) {
      assert.fail(`decodeCommand threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)} (not a CommandError) for ${JSON.stringify(text.slice(0, 300))}`);
    }
    assert.ok(CODES.has(err.code), `unknown error code ${err.code}`);
    assert.ok(DIALECTS.has(err.dialect.name), `unknown dialect ${err.dialect.name}`);
    assert.ok(isValidId(err.id), `error id ${JSON.stringify(err.id)} is not a valid id`);
    assert.equal(typeof err.message, 'string');
    assert.ok(err.message.length < 1000, `error message of ${err.message.length} characters echoes the input`);
    return err;
  }
  assertWellFormed(d, text);
  return d;
}

/** Drops undefined-valued keys (the decoder writes `since: undefined`), so expectations need not list them. */
function clean(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(clean);
  if (!isPlainObject(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (x !== undefined) Object.defineProperty(out, k, { value: clean(x), enumerable: true, writable: true, configurable: true });
  return out;
}

// --- arbitraries -------------------------------------------------------------------------------------------------

const CHANNEL_CHARS = [...'ABCXYZabcxyz0189_-.:#@/=,'];
const EVENT_CHARS = [...'ABCXYZabcxyz0189_-.:'];
const HEX = [...'0123456789abcdef'];

const channelArb = fc.oneof(
  { weight: 5, arbitrary: fc.string({ unit: fc.constantFrom(...CHANNEL_CHARS), minLength: 1, maxLength: 24 }) },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...CHANNEL_CHARS), minLength: 240, maxLength: 255 }) },
);
const eventArb = fc.string({ unit: fc.constantFrom(...EVENT_CHARS), minLength: 1, maxLength: 64 }).filter((e) => !RESERVED_EVENTS.has(e));
const idArb = fc.oneof(fc.constant(null), fc.maxSafeInteger(), fc.integer({ min: -1000, max: 1000 }), fc.string({ maxLength: 64 }));
const hexArb = (n: number) => fc.string({ unit: fc.constantFrom(...HEX), minLength: n, maxLength: n });
const traceparentArb = fc.tuple(hexArb(2), hexArb(32), hexArb(16), hexArb(2)).map((p) => p.join('-'));
const positionArb = fc.record({
  epoch: fc.string({ unit: fc.constantFrom(...'abcdefxyz0123456789'), minLength: 1, maxLength: 32 }),
  offset: fc.oneof(fc.nat(100), fc.maxSafeNat()),
});
const dataArb = fc.jsonValue({ maxDepth: 3 });
const tokenArb = fc.string({ minLength: 1, maxLength: 200 });
/** Unknown fields, which the protocol ignores (names chosen so they never collide with a real field). */
const extraArb = fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }).map((k) => `x_${k}`), dataArb, { maxKeys: 3 });

const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });

/** Correct native frames as plain objects (what a client would JSON.stringify), optional fields sometimes left out. */
const nativeFrameArb: fc.Arbitrary<Record<string, unknown>> = fc
  .tuple(
    opt(idArb),
    fc.oneof(
      fc.record({ method: fc.constant('subscribe'), params: fc.record({ channel: channelArb, since: opt(fc.oneof(positionArb, fc.constant(null))), token: opt(tokenArb) }, { requiredKeys: ['channel'] }) }),
      fc.record({ method: fc.constant('unsubscribe'), params: fc.record({ channel: channelArb }) }),
      fc.record({
        method: fc.constant('publish'),
        params: fc.record(
          { channel: channelArb, event: eventArb, data: dataArb, traceparent: traceparentArb, tracestate: fc.string({ maxLength: 512 }) },
          { requiredKeys: ['channel', 'data'] },
        ),
      }),
      fc.record({ method: fc.constant('presence'), params: fc.record({ channel: channelArb }) }),
      fc.record({
        method: fc.constant('history'),
        params: fc.record(
          { channel: channelArb, since: fc.oneof(positionArb, fc.constant(null)), limit: fc.nat(LIMITS.maxHistoryLimit), reverse: fc.boolean() },
          { requiredKeys: ['channel'] },
        ),
      }),
      fc.record({ method: fc.constant('ping'), params: fc.option(extraArb, { nil: undefined }) }, { requiredKeys: ['method'] }),
      fc.record({ method: fc.constant('refresh'), params: fc.record({ token: fc.string({ minLength: 1, maxLength: 8192 }), channel: channelArb }, { requiredKeys: ['token'] }) }),
      fc.record({ method: fc.constant('send'), params: fc.record({ user: fc.string({ minLength: 1, maxLength: 255 }), event: eventArb, data: dataArb }, { requiredKeys: ['user', 'data'] }) }),
    ),
    extraArb,
    extraArb,
  )
  .map(([id, cmd, topExtra, paramsExtra]) => {
    const frame: Record<string, unknown> = { ...topExtra, ...cmd };
    if (id !== undefined) frame.id = id;
    if (isPlainObject(cmd.params) && cmd.method !== 'ping') frame.params = { ...paramsExtra, ...cmd.params };
    return frame;
  });

const seed002FrameArb: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.record({ type: fc.constantFrom('join_room', 'leave_room', 'send_to_room'), payload: fc.tuple(channelArb, extraArb).map(([room_id, x]) => ({ ...x, room_id })) }),
  fc.record({ type: fc.constant('send_to_user'), payload: fc.tuple(fc.string({ minLength: 1, maxLength: 255 }), extraArb).map(([user_id, x]) => ({ ...x, user_id })) }),
);
const seed000FrameArb: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.record({ action: fc.constant('ping') }),
  fc.record({ action: fc.constant('chat'), data: dataArb }),
);
const validFrameArb = fc.oneof({ weight: 4, arbitrary: nativeFrameArb }, { weight: 1, arbitrary: seed002FrameArb }, { weight: 1, arbitrary: seed000FrameArb });

/** What a correct frame must decode to, built from the frame as the server parses it. */
function expectedDecode(frame: Record<string, unknown>): Pick<Decoded, 'dialect' | 'command'> {
  const f = JSON.parse(JSON.stringify(frame)) as Record<string, any>;
  if ('method' in f) {
    const id = f.id ?? null;
    const p = (f.params ?? {}) as Record<string, any>;
    const since = p.since ?? undefined;
    switch (f.method) {
      case 'subscribe':
        return { dialect: 'native', command: { id, method: 'subscribe', params: { channel: p.channel, since, token: p.token } } };
      case 'unsubscribe':
      case 'presence':
        return { dialect: 'native', command: { id, method: f.method, params: { channel: p.channel } } };
      case 'publish':
        return {
          dialect: 'native',
          command: { id, method: 'publish', params: { channel: p.channel, event: p.event ?? 'message', data: JSON.stringify(p.data), traceparent: p.traceparent, tracestate: p.tracestate } },
        };
      case 'history':
        return { dialect: 'native', command: { id, method: 'history', params: { channel: p.channel, since, limit: p.limit, reverse: p.reverse } } };
      case 'ping':
        return { dialect: 'native', command: { id, method: 'ping', params: {} } };
      case 'refresh':
        return { dialect: 'native', command: { id, method: 'refresh', params: p.channel === undefined ? { token: p.token } : { token: p.token, channel: p.channel } } };
      case 'send':
        return { dialect: 'native', command: { id, method: 'send', params: { user: p.user, event: p.event ?? 'message', data: JSON.stringify(p.data) } } };
    }
    throw new Error(`no expectation for ${String(f.method)}`);
  }
  if ('type' in f) {
    const p = f.payload as Record<string, any>;
    switch (f.type) {
      case 'join_room':
        return { dialect: 'seed002', command: { id: null, method: 'subscribe', params: { channel: p.room_id } } };
      case 'leave_room':
        return { dialect: 'seed002', command: { id: null, method: 'unsubscribe', params: { channel: p.room_id } } };
      case 'send_to_room':
        return { dialect: 'seed002', command: { id: null, method: 'publish', params: { channel: p.room_id, event: 'chat_message', data: JSON.stringify({ ...p, user_id: FRAME_USER }) } } };
      case 'send_to_user':
        return { dialect: 'seed002', command: { id: null, method: 'send', params: { user: p.user_id, event: 'direct_message', data: JSON.stringify({ ...p, from_user_id: FRAME_USER }) } } };
    }
  }
  if (f.action === 'ping') return { dialect: 'seed000', command: { id: null, method: 'ping', params: {} } };
  return { dialect: 'seed000', command: { id: null, method: 'publish', params: { channel: SEED000_CHANNEL, event: 'chat', data: JSON.stringify(f.data) } } };
}

/** Deeply nested JSON built by fast-check itself (arrays and objects of random shape, depth up to ~15). */
const { tree: treeArb } = fc.letrec<{ tree: unknown; node: unknown }>((tie) => ({
  tree: fc.oneof({ depthSize: 'large', maxDepth: 15 }, fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.constant(null), fc.boolean()), tie('node')),
  node: fc.oneof(fc.array(tie('tree'), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 4 }), tie('tree'), { maxKeys: 3 })),
}));

/** Where in a frame an arbitrary JSON value is put: each field the decoder reads. */
const PLACES = ['id', 'method', 'params', 'channel', 'event', 'data', 'since', 'limit', 'reverse', 'traceparent', 'tracestate', 'token', 'type', 'payload', 'room_id', 'user_id', 'action', 'chatData', 'top'] as const;
type Place = (typeof PLACES)[number];

/** A frame text with `valueJson` (already JSON text, possibly enormous) at `place`, with otherwise plausible fields. */
function frameWith(place: Place, valueJson: string, method: string): string {
  const m = JSON.stringify(method);
  switch (place) {
    case 'id':
      return `{"id":${valueJson},"method":"ping"}`;
    case 'method':
      return `{"id":1,"method":${valueJson}}`;
    case 'params':
      return `{"id":1,"method":${m},"params":${valueJson}}`;
    case 'type':
      return `{"type":${valueJson},"payload":{"room_id":"r"}}`;
    case 'payload':
      return `{"type":"send_to_room","payload":${valueJson}}`;
    case 'room_id':
      return `{"type":"join_room","payload":{"room_id":${valueJson}}}`;
    case 'user_id':
      return `{"type":"send_to_user","payload":{"user_id":${valueJson}}}`;
    case 'action':
      return `{"action":${valueJson},"data":1}`;
    case 'chatData':
      return `{"action":"chat","data":${valueJson}}`;
    case 'top':
      return valueJson;
    default:
      return `{"id":"x","method":${m},"params":{"channel":"c","data":1,${JSON.stringify(place)}:${valueJson}}}`;
  }
}
const placeArb = fc.constantFrom(...PLACES);
const methodArb = fc.constantFrom(...NATIVE_METHODS, 'nope');

// --- properties --------------------------------------------------------------------------------------------------

describe('fuzz: decodeCommand only ever returns a valid Command or throws a CommandError', () => {
  it('arbitrary strings (any UTF-16 code units, lone surrogates included)', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 120 }), (s) => void decodeChecked(s)), params(RUNS.binaryStrings));
    fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 60 }), (s) => void decodeChecked(s)), params(RUNS.graphemeStrings));
  });

  it('arbitrary JSON values as whole frames (fc.jsonValue, unicode strings)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5, stringUnit: 'binary' }), (v) => {
        const r = decodeChecked(JSON.stringify(v));
        // Anything but an object is refused as invalid_json (docs/protocol.md, error codes).
        if (!isPlainObject(v)) assert.ok(r instanceof CommandError && r.code === ErrorCode.InvalidJson, `non-object ${JSON.stringify(v)} gave ${JSON.stringify(r)}`);
      }),
      params(RUNS.jsonValues),
    );
  });

  it('arbitrary JSON values in every field the decoder reads', () => {
    fc.assert(
      fc.property(placeArb, methodArb, fc.jsonValue({ maxDepth: 3 }), (place, method, v) => void decodeChecked(frameWith(place, JSON.stringify(v), method))),
      params(RUNS.framesWithJsonFields),
    );
  });

  it('random deep trees (fc.letrec) in every field', () => {
    fc.assert(fc.property(placeArb, methodArb, treeArb, (place, method, v) => void decodeChecked(frameWith(place, JSON.stringify(v), method))), params(RUNS.trees));
  });

  it('nesting thousands of levels deep (past JSON.stringify\'s stack) in every field', () => {
    const deepArb = fc.record({
      depth: fc.oneof(fc.integer({ min: 1, max: 2000 }), fc.integer({ min: 2000, max: 100_000 })),
      open: fc.constantFrom('[', '{"a":', '[{"b":[', '{"":'),
    }).map(({ depth, open }) => {
      const close = open === '[' ? ']' : open === '[{"b":[' ? ']}]' : '}';
      return open.repeat(depth) + '0' + close.repeat(depth);
    });
    let sawTooDeep = false;
    fc.assert(
      fc.property(placeArb, methodArb, deepArb, (place, method, v) => {
        const r = decodeChecked(frameWith(place, v, method));
        if (r instanceof CommandError && /nested too deeply/.test(r.message)) sawTooDeep = true;
      }),
      params(RUNS.deepNesting),
    );
    // Also directly, so the stack-overflow branch is exercised on every run, not only when the dice say so.
    const deep = '['.repeat(200_000) + ']'.repeat(200_000);
    for (const text of [`{"method":"publish","params":{"channel":"c","data":${deep}}}`, `{"action":"chat","data":${deep}}`, `{"type":"send_to_room","payload":{"room_id":"r","x":${deep}}}`]) {
      const r = decodeChecked(text);
      if (r instanceof CommandError) {
        assert.equal(r.code, ErrorCode.BadRequest);
        sawTooDeep = true;
      }
    }
    assert.ok(sawTooDeep, 'data nested past the stack limit is refused with bad_request');
  });

  it('huge strings (up to 3 MB) in every field', () => {
    const hugeArb = fc.record({ n: fc.integer({ min: 300, max: 3_000_000 }), ch: fc.constantFrom('a', 'é', '\u{1F600}', '"', '\\', '\u0000', '#') }).map(({ n, ch }) =>
      JSON.stringify(ch.repeat(Math.ceil(n / ch.length))),
    );
    fc.assert(
      fc.property(placeArb, methodArb, hugeArb, (place, method, s) => {
        const r = decodeChecked(frameWith(place, s, method));
        // A huge string is never a valid id, channel, event, method name or traceparent where the method reads it.
        const read = place === 'id' || place === 'method' || place === 'room_id' || (place === 'channel' && method !== 'ping' && method !== 'refresh') ||
          ((place === 'event' || place === 'traceparent') && method === 'publish');
        if (read) assert.ok(r instanceof CommandError, `huge ${place} accepted for ${method}`);
      }),
      params(RUNS.hugeStrings),
    );
  });

  it('invalid UTF-8 bytes decoded the way the server does (buf.toString("utf8"))', () => {
    const INVALID = [[0x80], [0xbf], [0xc0, 0x80], [0xc1, 0xbf], [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0xf4, 0x90, 0x80, 0x80], [0xf5], [0xfe], [0xff], [0xe2, 0x82], [0xf0, 0x9f, 0x98]];
    const framedBytesArb = fc
      .tuple(validFrameArb, fc.array(fc.tuple(fc.nat(), fc.oneof(fc.constantFrom(...INVALID), fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 4 }))), { minLength: 1, maxLength: 4 }))
      .map(([frame, inserts]) => {
        const bytes = [...Buffer.from(JSON.stringify(frame), 'utf8')];
        for (const [at, seq] of inserts) bytes.splice(at % (bytes.length + 1), 0, ...seq);
        return Buffer.from(bytes);
      });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)), framedBytesArb), (buf) => void decodeChecked(buf.toString('utf8'))),
      params(RUNS.invalidUtf8),
    );
  });

  it('any bytes inside a JSON string are data: a publish with them decodes, U+FFFD for the invalid ones', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (raw) => {
        // Bytes that would end or escape the string, or are control characters, are dropped: they are JSON syntax, not data.
        const bytes = Buffer.from(raw.filter((b) => b >= 0x20 && b !== 0x22 && b !== 0x5c));
        const text = Buffer.concat([Buffer.from('{"id":7,"method":"publish","params":{"channel":"c","data":"'), bytes, Buffer.from('"}}')]).toString('utf8');
        const r = decodeChecked(text);
        assert.ok(!(r instanceof CommandError), `refused: ${r instanceof CommandError ? r.message : ''}`);
        assert.deepEqual(clean(r.command), { id: 7, method: 'publish', params: { channel: 'c', event: 'message', data: JSON.stringify(bytes.toString('utf8')) } });
      }),
      params(RUNS.utf8InStrings),
    );
  });
});

describe('fuzz: correct frames decode to what was generated', () => {
  it('native commands and both seed vocabularies, unknown fields ignored', () => {
    fc.assert(
      fc.property(validFrameArb, (frame) => {
        const text = JSON.stringify(frame);
        const r = decodeChecked(text);
        assert.ok(!(r instanceof CommandError), `correct frame ${text.slice(0, 300)} refused: ${r instanceof CommandError ? `${r.code} ${r.message}` : ''}`);
        const want = expectedDecode(frame);
        assert.equal(r.dialect, want.dialect);
        assert.deepEqual(clean(r.command), clean(want.command), `for ${text.slice(0, 300)}`);
      }),
      params(RUNS.roundTrip),
    );
  });
});

// --- single-fault mutations of correct frames, with the exact expected refusal ----------------------------------

interface Mutation {
  /** Mutated frame (as an object, or raw text when it cannot be an object). */
  frame: Record<string, unknown>;
  /** Expected error code, id and dialect; undefined: must still decode (the mutation was harmless). */
  expect?: { code: string; id: unknown };
  what: string;
}

const notString = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 2 }), fc.dictionary(fc.string({ maxLength: 3 }), fc.integer(), { maxKeys: 2 }), fc.double());
const notObject = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.string({ maxLength: 5 }), fc.array(fc.integer(), { maxLength: 2 }));
const badChannel = fc.oneof(
  notString,
  fc.constant(''),
  fc.string({ unit: fc.constantFrom(...CHANNEL_CHARS), minLength: 256, maxLength: 300 }),
  fc.tuple(fc.string({ unit: fc.constantFrom(...CHANNEL_CHARS), maxLength: 5 }), fc.constantFrom(' ', '\n', '"', '?', '&', '%', 'é', '\u0000', '\u{1F600}', '*', '+')).map(([a, b]) => a + b),
);
const badEvent = fc.oneof(
  notString,
  fc.constant(''),
  fc.constantFrom(...RESERVED_EVENTS),
  fc.string({ unit: fc.constantFrom(...EVENT_CHARS), minLength: 65, maxLength: 80 }),
  fc.tuple(fc.string({ unit: fc.constantFrom(...EVENT_CHARS), maxLength: 5 }), fc.constantFrom(' ', '#', '/', '\n', 'é', '@')).map(([a, b]) => a + b),
);
const badId = fc.oneof(fc.double({ noInteger: true, noNaN: true, noDefaultInfinity: true }), fc.constantFrom(2 ** 53, -(2 ** 53), 1e300), fc.boolean(), fc.string({ minLength: 65, maxLength: 80 }), fc.array(fc.integer(), { maxLength: 2 }), fc.dictionary(fc.string({ maxLength: 2 }), fc.integer(), { maxKeys: 1 }));
const badPosition = fc.oneof(
  notObject.filter((v) => v !== null),
  fc.record({ epoch: fc.constantFrom('', 'ABC', 'a-b', 'x'.repeat(33)), offset: fc.nat() }),
  fc.record({ epoch: fc.constant('abc'), offset: fc.oneof(fc.integer({ max: -1 }), fc.double({ noInteger: true }), fc.constant(2 ** 53), fc.string({ maxLength: 2 })) }),
  fc.constant({}),
);
const unknownMethod = fc.string({ maxLength: 20 }).filter((m) => !(NATIVE_METHODS as readonly string[]).includes(m));

/** Mutations of a correct native frame, each breaking exactly one field, with the refusal docs/protocol.md promises. */
const mutationArb: fc.Arbitrary<Mutation> = fc.tuple(nativeFrameArb, fc.nat(), badId, notString, unknownMethod, notObject, badChannel, badEvent, badPosition, fc.nat()).map(
  ([frame, pick, bid, nstr, umethod, nobj, bch, bev, bpos, n]) => {
    const f = JSON.parse(JSON.stringify(frame)) as Record<string, any>;
    const id = f.id ?? null;
    const method = f.method as string;
    const p = (isPlainObject(f.params) ? f.params : {}) as Record<string, unknown>;
    const withParams = (changes: Record<string, unknown>, drop?: string): Record<string, unknown> => {
      const params: Record<string, unknown> = { ...p, ...changes };
      if (drop) delete params[drop];
      return { ...f, params };
    };
    const options: (() => Mutation)[] = [
      () => ({ frame: { ...f, id: bid }, expect: { code: 'bad_request', id: null }, what: 'bad id' }),
      () => ({ frame: { ...f, method: nstr }, expect: { code: 'bad_request', id }, what: 'method not a string' }),
      () => ({ frame: { ...f, method: umethod }, expect: { code: 'unknown_method', id }, what: 'unknown method' }),
      () => ({ frame: { ...f, params: nobj }, expect: { code: 'bad_request', id }, what: 'params not an object' }),
      () => ({ frame: { ...f, [`x_extra${n}`]: nobj }, what: 'extra top-level field' }),
    ];
    if (method === 'refresh') {
      // The channel of a subscription-token refresh is optional, but checked when given.
      options.push(() => ({ frame: withParams({ channel: bch }), expect: { code: 'invalid_channel', id }, what: 'bad refresh channel' }));
    }
    if (method === 'send') {
      options.push(() => ({ frame: withParams({ user: ['', 1, null, 'u'.repeat(256)][n % 4] }), expect: { code: 'bad_request', id }, what: 'bad user' }));
      options.push(() => ({ frame: withParams({ event: bev }), expect: { code: 'invalid_event', id }, what: 'bad send event' }));
      options.push(() => ({ frame: withParams({}, 'data'), expect: { code: 'bad_request', id }, what: 'send data missing' }));
    }
    if (method !== 'ping' && method !== 'refresh' && method !== 'send') {
      options.push(() => ({ frame: withParams({ channel: bch }), expect: { code: 'invalid_channel', id }, what: 'bad channel' }));
      options.push(() => ({ frame: withParams({}, 'channel'), expect: { code: 'bad_request', id }, what: 'channel missing' }));
      options.push(() => ({ frame: withParams({ [`x_extra${n}`]: nobj }), what: 'extra param' }));
    }
    if (method === 'subscribe' || method === 'history') {
      options.push(() => ({ frame: withParams({ since: bpos }), expect: { code: 'bad_request', id }, what: 'bad since' }));
    }
    if (method === 'publish') {
      options.push(() => ({ frame: withParams({ event: bev }), expect: { code: 'invalid_event', id }, what: 'bad event' }));
      options.push(() => ({ frame: withParams({}, 'data'), expect: { code: 'bad_request', id }, what: 'data missing' }));
      const badTraceparents = [nstr, `00-${'g'.repeat(32)}-${'0'.repeat(16)}-01`, `00-${'A'.repeat(32)}-${'0'.repeat(16)}-01`, `00-${'a'.repeat(31)}-${'0'.repeat(16)}-01`, ''];
      options.push(() => ({ frame: withParams({ traceparent: badTraceparents[n % badTraceparents.length] }), expect: { code: 'bad_request', id }, what: 'bad traceparent' }));
      options.push(() => ({ frame: withParams({ tracestate: n % 2 ? 'x'.repeat(513) : nstr }), expect: { code: 'bad_request', id }, what: 'bad tracestate' }));
    }
    if (method === 'history') {
      const limits = [-1, LIMITS.maxHistoryLimit + 1, 1.5, '10', null, true, 2 ** 53];
      options.push(() => ({ frame: withParams({ limit: limits[n % limits.length] }), expect: { code: 'bad_request', id }, what: 'bad limit' }));
      options.push(() => ({ frame: withParams({ reverse: [0, 1, 'true', null, {}][n % 5] }), expect: { code: 'bad_request', id }, what: 'bad reverse' }));
    }
    if (method === 'refresh') {
      options.push(() => ({ frame: withParams({ token: [1, '', null, 'x'.repeat(8193)][n % 4] }), expect: { code: 'bad_request', id }, what: 'bad token' }));
    }
    return options[pick % options.length]!();
  },
);

describe('fuzz: single-field mutations of correct frames are refused with the documented code', () => {
  it('wrong types per field, unknown methods, missing and extra fields', () => {
    const seen = new Map<string, number>();
    fc.assert(
      fc.property(mutationArb, (m) => {
        seen.set(m.what, (seen.get(m.what) ?? 0) + 1);
        const text = JSON.stringify(m.frame);
        const r = decodeChecked(text);
        const shown = `${m.what}: ${text.slice(0, 300)}`;
        if (m.expect === undefined) {
          assert.ok(!(r instanceof CommandError), `harmless mutation refused (${shown}): ${r instanceof CommandError ? r.message : ''}`);
          return;
        }
        assert.ok(r instanceof CommandError, `accepted (${shown})`);
        assert.equal(r.code, m.expect.code, `code for ${shown} (message: ${r.message})`);
        assert.equal(r.id, m.expect.id, `id for ${shown}`);
        assert.equal(r.dialect.name, 'native');
      }),
      params(RUNS.mutations),
    );
    // Every kind of mutation was tried (the run was not cut short before covering them).
    for (const what of ['bad id', 'unknown method', 'params not an object', 'bad channel', 'bad event', 'bad since', 'bad limit']) assert.ok((seen.get(what) ?? 0) > 0, `mutation "${what}" never generated`);
  });

  it('seed vocabularies: wrong payload shapes are refused in the seed dialect', () => {
    const seedMutation = fc.oneof(
      fc.tuple(fc.constantFrom('join_room', 'leave_room', 'send_to_room'), badChannel).map(([type, room_id]) => ({ frame: { type, payload: { room_id } }, code: 'invalid_channel', dialect: 'seed002' })),
      fc.tuple(fc.constantFrom('join_room', 'send_to_user'), notObject).map(([type, payload]) => ({ frame: { type, payload }, code: 'bad_request', dialect: 'seed002' })),
      fc.oneof(notString, fc.constant(''), fc.string({ minLength: 256, maxLength: 260 })).map((user_id) => ({ frame: { type: 'send_to_user', payload: { user_id } }, code: 'bad_request', dialect: 'seed002' })),
      notString.map((type) => ({ frame: { type, payload: {} }, code: 'bad_request', dialect: 'seed002' })),
      fc.string({ maxLength: 10 }).filter((t) => !['join_room', 'leave_room', 'send_to_room', 'send_to_user'].includes(t)).map((type) => ({ frame: { type }, code: 'unknown_method', dialect: 'seed002' })),
      fc.string({ maxLength: 10 }).filter((a) => a !== 'ping' && a !== 'chat').map((action) => ({ frame: { action }, code: 'unknown_method', dialect: 'seed000' })),
      notString.map((action) => ({ frame: { action }, code: 'bad_request', dialect: 'seed000' })),
      fc.constant({ frame: { action: 'chat' }, code: 'bad_request', dialect: 'seed000' }),
    );
    fc.assert(
      fc.property(seedMutation, ({ frame, code, dialect }) => {
        const text = JSON.stringify(frame);
        const r = decodeChecked(text);
        assert.ok(r instanceof CommandError, `accepted ${text}`);
        assert.equal(r.code, code, `code for ${text}`);
        assert.equal(r.dialect.name, dialect, `dialect for ${text}`);
        assert.equal(r.id, null);
      }),
      params(1000),
    );
  });
});
