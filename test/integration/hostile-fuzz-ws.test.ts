/**
 * A live server under a generated WebSocket attack. One hostile client sends a few hundred frames made by
 * fast-check — valid commands, mutated commands, arbitrary JSON and strings, frames of random size around and far
 * beyond `websocket.maxMessageSize` (configured small), binary frames, text frames holding invalid UTF-8, and
 * messages split into fragments (`ws` `send(data, { fin: false })`) — while a well-behaved client subscribed to a
 * channel receives publications made throughout the attack.
 *
 * For each hostile frame the expected outcome is derived from the frame itself (an oracle that runs the decoder
 * on the bytes the server will see) and checked: its documented error reply (code, id, vocabulary), a reply to a
 * valid command, or a documented close code — 1009 past 2 × maxMessageSize, 1007 for invalid UTF-8, 4500 at the
 * websocket.maxBadFrames-th bad frame. After each frame a ping with a private id is a barrier: everything that
 * arrives before its reply belongs to the frame. A closed hostile connection is replaced by a new one.
 *
 * Afterwards: every publication reached the good client in order, the server answers /healthz, a new client
 * connects, and /api/stats shows the connections back to what is open.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { ErrorCode, RESERVED_EVENTS } from '../../src/protocol/index.js';
import { DialectError } from '../../src/session/dialects/index.js';
import { decodeAny as decodeCommand, type DecodedFrame as Decoded } from '../helpers/frames.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { connectReady, type Frame, type WsClient } from '../helpers/ws-client.js';

const MAX = 1024;
const MAX_BAD = 5;
const MAX_SUBS = 8;
const RUNS = 600;
/** The whole generated attack stops after this long, whatever RUNS says (2-core CI machines). */
const ATTACK_TIME_LIMIT_MS = 12_000;
const OBSERVED = 'zz-observed-channel-0';
const GOOD_USER = 'observer-7f3';
const HOSTILE_USER = 'mallory';

const DOCS = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8') + readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');
const documentedCode = (code: string) => DOCS.includes('`' + code + '`');
const documentedClose = (code: number) => new RegExp(`^\\| ${code} \\|`, 'm').test(DOCS);

// --- frames ------------------------------------------------------------------------------------------------------

interface HostileFrame {
  /** Fragments of one message, in order (one element: an unfragmented frame). */
  parts: Buffer[];
  binary: boolean;
  kind: string;
}

const CHANNELS = ['a', 'b', 'room:1', 'news', `inbox#${HOSTILE_USER}`, 'inbox#someone-else', 'x'.repeat(255), 'sized'];
const CHANNEL_CHARS = [...'abcxyz0189_-.:#@/=,'];
const channelArb = fc.oneof(fc.constantFrom(...CHANNELS), fc.string({ unit: fc.constantFrom(...CHANNEL_CHARS), minLength: 1, maxLength: 12 }));
const eventArb = fc.string({ unit: fc.constantFrom(...'abcXYZ09_-.:'), minLength: 1, maxLength: 12 }).filter((e) => !RESERVED_EVENTS.has(e));
const idArb = fc.option(fc.oneof(fc.integer(), fc.string({ maxLength: 10 })), { nil: undefined });
const smallJson = fc.jsonValue({ maxDepth: 2 });

const validFrameArb: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.record({ id: idArb, method: fc.constant('subscribe'), params: fc.record({ channel: channelArb }) }, { requiredKeys: ['method', 'params'] }),
  fc.record({ id: idArb, method: fc.constant('unsubscribe'), params: fc.record({ channel: channelArb }) }, { requiredKeys: ['method', 'params'] }),
  fc.record(
    { id: idArb, method: fc.constant('publish'), params: fc.record({ channel: channelArb, event: eventArb, data: smallJson }, { requiredKeys: ['channel', 'data'] }) },
    { requiredKeys: ['method', 'params'] },
  ),
  fc.record({ id: idArb, method: fc.constantFrom('presence', 'history'), params: fc.record({ channel: channelArb }) }, { requiredKeys: ['method', 'params'] }),
  fc.record({ id: idArb, method: fc.constantFrom('ping', 'refresh') }, { requiredKeys: ['method'] }),
  fc.record({ type: fc.constantFrom('join_room', 'leave_room', 'send_to_room'), payload: fc.record({ room_id: channelArb, text: fc.string({ maxLength: 8 }) }) }),
  fc.record({ type: fc.constant('send_to_user'), payload: fc.record({ user_id: fc.constantFrom(HOSTILE_USER, 'nobody', 'x'), text: fc.string({ maxLength: 8 }) }) }),
  fc.record({ action: fc.constantFrom('ping', 'chat'), data: smallJson }),
);

/** A valid frame with one field (top level or in params/payload) replaced by an arbitrary JSON value. */
const mutatedFrameArb = fc.tuple(validFrameArb, fc.nat(), fc.jsonValue({ maxDepth: 2 })).map(([frame, pick, value]) => {
  const f = JSON.parse(JSON.stringify(frame)) as Record<string, any>;
  const inner = (f.params ?? f.payload) as Record<string, unknown> | undefined;
  const targets: [Record<string, unknown>, string][] = Object.keys(f).map((k) => [f, k]);
  if (inner && typeof inner === 'object') for (const k of Object.keys(inner)) targets.push([inner, k]);
  const [obj, key] = targets[pick % targets.length]!;
  obj[key] = value;
  return f;
});

/** A publish frame padded to about `size` bytes. */
function sized(size: number, id: number): string {
  const head = `{"id":${id},"method":"publish","params":{"channel":"sized","data":"`;
  const tail = '"}}';
  return head + 'p'.repeat(Math.max(0, size - head.length - tail.length)) + tail;
}
const sizeArb = fc.oneof(
  { weight: 2, arbitrary: fc.integer({ min: 60, max: MAX }) },
  { weight: 3, arbitrary: fc.integer({ min: MAX + 1, max: 2 * MAX }) },
  { weight: 2, arbitrary: fc.integer({ min: 2 * MAX + 1, max: 8 * MAX }) },
  { weight: 1, arbitrary: fc.integer({ min: 64 * 1024, max: 256 * 1024 }) },
);

const INVALID_UTF8 = [[0x80], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf5], [0xff], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80]];

const textArb: fc.Arbitrary<{ bytes: Buffer; kind: string }> = fc.oneof(
  { weight: 4, arbitrary: validFrameArb.map((f) => ({ bytes: Buffer.from(JSON.stringify(f)), kind: 'valid' })) },
  { weight: 4, arbitrary: mutatedFrameArb.map((f) => ({ bytes: Buffer.from(JSON.stringify(f)), kind: 'mutated' })) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => ({ bytes: Buffer.from(JSON.stringify(v) ?? 'null'), kind: 'json' })) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 60 }).map((s) => ({ bytes: Buffer.from(s, 'utf8'), kind: 'string' })) },
  { weight: 3, arbitrary: fc.tuple(sizeArb, fc.integer()).map(([n, id]) => ({ bytes: Buffer.from(sized(n, id)), kind: 'sized' })) },
  {
    weight: 1,
    arbitrary: fc.tuple(validFrameArb, fc.nat(), fc.constantFrom(...INVALID_UTF8)).map(([f, at, seq]) => {
      const b = [...Buffer.from(JSON.stringify(f))];
      b.splice(at % (b.length + 1), 0, ...seq);
      return { bytes: Buffer.from(b), kind: 'invalid-utf8' };
    }),
  },
);

const hostileFrameArb: fc.Arbitrary<HostileFrame> = fc
  .tuple(
    fc.oneof(
      { weight: 9, arbitrary: textArb.map((t) => ({ ...t, binary: false })) },
      { weight: 1, arbitrary: fc.oneof(fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)), validFrameArb.map((f) => Buffer.from(JSON.stringify(f)))).map((bytes) => ({ bytes, kind: 'binary', binary: true })) },
    ),
    fc.oneof({ weight: 4, arbitrary: fc.constant([] as number[]) }, { weight: 1, arbitrary: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }) }),
  )
  .map(([{ bytes, kind, binary }, cuts]) => {
    const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
    const parts: Buffer[] = [];
    let prev = 0;
    for (const c of at) {
      parts.push(bytes.subarray(prev, c));
      prev = c;
    }
    parts.push(bytes.subarray(prev));
    return { parts, binary, kind: parts.length > 1 ? `${kind}/fragmented(${parts.length})` : kind };
  });

// --- oracle ------------------------------------------------------------------------------------------------------

type Expect =
  | { type: 'close'; code: number }
  | { type: 'bad'; code: string; id: unknown; dialect: string }
  | { type: 'valid'; decoded: Decoded };

/** What the server must do with one message, from its bytes alone (docs/protocol.md, limits and close codes). */
function predict(bytes: Buffer, binary: boolean): Expect {
  if (bytes.length > 2 * MAX) return { type: 'close', code: 1009 };
  if (!binary && !isUtf8(bytes)) return { type: 'close', code: 1007 };
  if (binary) return { type: 'bad', code: ErrorCode.BinaryNotAllowed, id: null, dialect: 'native' };
  if (bytes.length > MAX) return { type: 'bad', code: ErrorCode.MessageTooLarge, id: null, dialect: 'native' };
  try {
    return { type: 'valid', decoded: decodeCommand(bytes.toString('utf8'), { maxChannelLength: 255, maxHistoryLimit: 1000 }) };
  } catch (err) {
    assert.ok(err instanceof DialectError, `decoder threw ${String(err)}`);
    return { type: 'bad', code: err.code, id: err.id, dialect: err.dialect.name };
  }
}

function isUtf8(b: Buffer): boolean {
  return Buffer.from(b.toString('utf8'), 'utf8').equals(b);
}

/** The `{code, message}` of an error frame in any vocabulary, with the dialect it came in. */
function errorOf(m: Frame): { code: string; dialect: string; id?: unknown } | undefined {
  if (m.type === 'error' && m.payload && typeof m.payload.code === 'string') return { code: m.payload.code, dialect: 'seed002' };
  if (m.action === 'error' && m.data && typeof m.data.code === 'string') return { code: m.data.code, dialect: 'seed000' };
  if ('id' in m && m.error && typeof m.error.code === 'string') return { code: m.error.code, dialect: 'native', id: m.id };
  return undefined;
}

// --- the hostile connection --------------------------------------------------------------------------------------

class Hostile {
  badFrames = 0;
  constructor(readonly client: WsClient) {}
  static async open(srv: TestServer): Promise<Hostile> {
    const { client } = await connectReady(`${srv.wsUrl}?user=${HOSTILE_USER}`);
    srv.track(client);
    return new Hostile(client);
  }
}

interface Tally {
  frames: number;
  kinds: Map<string, number>;
  outcomes: Map<string, number>;
}

/**
 * Sends one frame and checks what comes back against the prediction. Returns the hostile connection to use next
 * (a new one when this frame closed it).
 */
async function attackOnce(srv: TestServer, h: Hostile, frame: HostileFrame, seq: number, tally: Tally): Promise<Hostile> {
  const bytes = Buffer.concat(frame.parts);
  const expect = predict(bytes, frame.binary);
  tally.frames++;
  tally.kinds.set(frame.kind, (tally.kinds.get(frame.kind) ?? 0) + 1);
  const shown = () => `${frame.kind} frame #${seq} (${bytes.length} bytes${frame.binary ? ', binary' : ''}) ${JSON.stringify(bytes.subarray(0, 200).toString('utf8'))}`;

  const c = h.client;
  const start = c.messages.length;
  for (let i = 0; i < frame.parts.length; i++) c.ws.send(frame.parts[i]!, { binary: frame.binary, fin: i === frame.parts.length - 1 });
  const barrier = `~barrier~${seq}`;
  c.ws.send(JSON.stringify({ id: barrier, method: 'ping' }));

  const isBarrier = (m: Frame) => m.id === barrier;
  await waitFor(() => c.isClosed || c.messages.slice(start).some(isBarrier), { timeout: 5000, interval: 1, label: `barrier reply or close after ${shown()}` });
  // A close frame may trail the last error reply by a moment.
  if (!c.messages.slice(start).some(isBarrier)) await c.waitClosed(2000);
  const got = c.messages.slice(start).filter((m) => !isBarrier(m) && !('push' in m) && m.action !== 'pong');
  const closed = c.isClosed ? await c.closed : undefined;
  const describeGot = () => `${shown()}: expected ${JSON.stringify(expect, (k, v) => (k === 'decoded' ? v.command.method : v))}, got ${JSON.stringify(got).slice(0, 400)}${closed ? `, closed ${closed.code}` : ''}`;

  for (const m of got) {
    const e = errorOf(m);
    if (e) {
      assert.ok(documentedCode(e.code), `undocumented error code ${e.code} — ${describeGot()}`);
      assert.notEqual(e.code, ErrorCode.Internal, `internal error — ${describeGot()}`);
    } else {
      assert.ok('id' in m && 'result' in m, `unexpected frame ${JSON.stringify(m)} — ${describeGot()}`);
    }
  }

  let outcome: string;
  if (expect.type === 'close') {
    assert.ok(closed, `connection stayed open — ${describeGot()}`);
    assert.equal(closed.code, expect.code, describeGot());
    assert.equal(got.length, 0, `no reply before the close — ${describeGot()}`);
    outcome = `close ${expect.code}`;
  } else if (expect.type === 'bad') {
    h.badFrames++;
    const errors = got.map(errorOf).filter((e) => e !== undefined);
    assert.equal(got.length, 1, `exactly one reply — ${describeGot()}`);
    assert.equal(errors[0]?.code, expect.code, describeGot());
    assert.equal(errors[0]?.dialect, expect.dialect, describeGot());
    if (expect.dialect === 'native') assert.equal(errors[0]?.id, expect.id, describeGot());
    if (h.badFrames >= MAX_BAD) {
      const info = closed ?? (await c.waitClosed(2000));
      assert.equal(info.code, 4500, `closed after ${MAX_BAD} bad frames — ${describeGot()}`);
      outcome = 'close 4500';
    } else {
      assert.equal(closed, undefined, `closed before ${MAX_BAD} bad frames (${h.badFrames}) — ${describeGot()}`);
      outcome = `error ${expect.code}`;
    }
  } else {
    assert.equal(closed, undefined, `a valid command closed the connection — ${describeGot()}`);
    const id = expect.decoded.command.id;
    if (id !== null) {
      const replies = got.filter((m) => m.id === id);
      assert.equal(replies.length, 1, `one reply to id ${JSON.stringify(id)} — ${describeGot()}`);
      assert.equal(got.length, 1, describeGot());
      const e = errorOf(replies[0]!);
      outcome = e ? `command error ${e.code}` : `result ${expect.decoded.command.method}`;
    } else {
      // Fire-and-forget: silence on success, at most one error (with id null, in the frame's vocabulary).
      assert.ok(got.length <= 1, describeGot());
      const e = got[0] ? errorOf(got[0]) : undefined;
      if (got[0]) assert.equal(e?.dialect, expect.decoded.dialect, describeGot());
      outcome = e ? `command error ${e.code}` : 'silent ok';
    }
  }
  tally.outcomes.set(outcome, (tally.outcomes.get(outcome) ?? 0) + 1);
  return c.isClosed ? Hostile.open(srv) : h;
}

// --- the test ------------------------------------------------------------------------------------------------------

describe('hostile fuzz over a live WebSocket', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer([
      '--websocket.maxMessageSize', String(MAX),
      '--websocket.maxBadFrames', String(MAX_BAD),
      '--client.maxSubscriptions', String(MAX_SUBS),
      // Rate limits are tested in hostile-clients; here every frame must reach the protocol checks.
      '--limits.commandRate', '0',
      '--limits.connectRate', '0',
    ]);
  });
  after(() => srv.close());

  it('a generated attack gets documented replies and closes; a subscriber receives every publication in order; the server stays healthy', async (t) => {
    const { client: good } = await connectReady(`${srv.wsUrl}?user=${GOOD_USER}`);
    srv.track(good);
    await good.call('subscribe', { channel: OBSERVED });
    const received: { offset: number; n: number }[] = [];
    good.ws.on('message', (d: Buffer) => {
      const m = JSON.parse(d.toString()) as Frame;
      if (m.push === 'publication' && m.channel === OBSERVED) received.push({ offset: m.offset, n: m.payload.n });
    });

    // Publications throughout the attack.
    let published = 0;
    let stop = false;
    const publisher = (async () => {
      while (!stop) {
        published++;
        await srv.sb.publish(OBSERVED, { n: published });
        await sleep(3);
      }
    })();

    const tally: Tally = { frames: 0, kinds: new Map(), outcomes: new Map() };
    let h = await Hostile.open(srv);
    let seq = 0;
    const started = performance.now();
    try {
      await fc.assert(
        fc.asyncProperty(hostileFrameArb, async (frame) => {
          // The observed channel is the good client's; the attack must not publish to it.
          if (Buffer.concat(frame.parts).includes(OBSERVED)) return;
          h = await attackOnce(srv, h, frame, ++seq, tally);
        }),
        { numRuns: RUNS, endOnFailure: true, plugins: [fc.interruptAfterTimeLimit(ATTACK_TIME_LIMIT_MS)] },
      );
      // Each close code at least once, whatever the dice said.
      const fixed: HostileFrame[] = [
        { parts: [Buffer.from(sized(3 * MAX, 1))], binary: false, kind: 'fixed oversize' },
        { parts: [Buffer.from('{"id":1,"method":"ping"'), Buffer.from([0xff]), Buffer.from('}')], binary: false, kind: 'fixed invalid utf-8 (fragmented)' },
        { parts: [Buffer.from(sized(MAX + 10, 2)).subarray(0, 600), Buffer.from(sized(MAX + 10, 2)).subarray(600)], binary: false, kind: 'fixed too large (fragmented)' },
        ...Array.from({ length: MAX_BAD }, (): HostileFrame => ({ parts: [Buffer.from('not json')], binary: false, kind: 'fixed garbage' })),
      ];
      for (const f of fixed) h = await attackOnce(srv, h, f, ++seq, tally);
    } finally {
      stop = true;
      await publisher;
    }
    const attackMs = Math.round(performance.now() - started);
    t.diagnostic(`${tally.frames} hostile frames in ${attackMs} ms; ${published} publications during the attack`);
    t.diagnostic(`kinds: ${JSON.stringify(Object.fromEntries(tally.kinds))}`);
    t.diagnostic(`outcomes: ${JSON.stringify(Object.fromEntries(tally.outcomes))}`);
    assert.ok(tally.frames >= 100, `only ${tally.frames} frames in the time limit`);
    for (const o of ['close 1009', 'close 1007', 'close 4500', 'error message_too_large', 'error invalid_json']) assert.ok(tally.outcomes.has(o), `outcome "${o}" never happened`);
    for (const code of [1007, 1009, 4500]) assert.ok(documentedClose(code), `close code ${code} is documented in docs/protocol.md`);

    // Every publication, in order, exactly once.
    await waitFor(() => received.length >= published, { timeout: 5000, label: 'publications to reach the good client', describe: () => `${received.length}/${published}` });
    assert.equal(good.isClosed, false, 'the good client was not disconnected');
    assert.deepEqual(
      received.map((r) => r.n),
      Array.from({ length: published }, (_, i) => i + 1),
    );
    assert.deepEqual(
      received.map((r) => r.offset),
      Array.from({ length: published }, (_, i) => i + 1),
    );

    // Healthy: health endpoints, a new client, connection counts back to what is open.
    assert.equal((await srv.api('GET', '/healthz')).status, 200);
    assert.equal((await srv.api('GET', '/readyz')).status, 200);
    const { client: fresh } = await connectReady(`${srv.wsUrl}?user=fresh`);
    assert.deepEqual(await fresh.call('ping'), {});
    await fresh.close();
    await h.client.close();
    const stats = await waitFor(async () => {
      const s = await srv.stats();
      return s.connections === 1 ? s : undefined;
    }, { timeout: 3000, label: 'only the good client left' });
    assert.equal(stats.connectionsByTransport.websocket, 1);
    await good.close();
    await waitFor(async () => (await srv.stats()).connections === 0, { timeout: 3000, label: 'no connections left' });
    const s = await srv.stats();
    assert.equal(s.subscriptions, 0, 'no subscriptions left behind');
  });

  it('the error reply to a malformed frame does not overtake the reply to an earlier command', async () => {
    // Found by this file's first version: malformed frames were answered at once while earlier commands still ran.
    const { client } = await connectReady(`${srv.wsUrl}?user=order`);
    srv.track(client);
    client.send({ id: 1, method: 'subscribe', params: { channel: 'order-check' } });
    client.send('garbage');
    client.send({ id: 2, method: 'history', params: { channel: 'order-check' } });
    client.send(Buffer.from('binary'));
    await waitFor(() => client.messages.length >= 6, { timeout: 3000, label: 'four replies and caught_up' });
    const replies = client.messages.slice(1).map((m) => m.error?.code ?? m.push ?? m.id);
    await client.close();
    // The subscribe's caught_up push belongs to it: it too comes before the next command's reply.
    assert.deepEqual(replies, [1, 'caught_up', 'invalid_json', 2, 'binary_not_allowed']);
  });
});
