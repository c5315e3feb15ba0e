// Cost of building one WebSocket text frame for a publication, per way of building it (ns per frame, median of 9
// alternating rounds in one process, ratio to the first):
//   switchboard   dist/delivery/encoded.js wsTextFrameOf: protocol/ws-frame.ts header, text encoded in place
//   copy          encode the text to a Buffer, then copy it behind the header (the code before issue #13)
//   ws-sender     ws's exported `Sender.frame()` (two buffers: header, payload) joined with Buffer.concat
//
//   npm run build --silent && node bench/ws-frame-cost.js
import { createRequire } from 'node:module';
import { wsTextFrameOf } from '../dist/delivery/encoded.js';

const { Sender } = createRequire(import.meta.url)('ws');

function copy(json) {
  const payload = Buffer.from(json, 'utf8');
  const len = payload.length;
  const headerLen = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLen + len);
  frame[0] = 0x81;
  if (len < 126) frame[1] = len;
  else if (len < 65536) {
    frame[1] = 126;
    frame.writeUInt16BE(len, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
    frame.writeUInt32BE(len >>> 0, 6);
  }
  payload.copy(frame, headerLen);
  return frame;
}

const SENDER_OPTIONS = { fin: true, opcode: 1, mask: false, readOnly: true, rsv1: false };
const wsSender = (json) => Buffer.concat(Sender.frame(Buffer.from(json, 'utf8'), SENDER_OPTIONS));

const variants = { switchboard: wsTextFrameOf, copy, 'ws-sender': wsSender };
/** A publication as the server sends it, padded to about `bytes` bytes. */
const publication = (bytes) =>
  JSON.stringify({ type: 'pub', channel: 'bench', epoch: 'k3x9', offset: 12345, data: { sent: 1733472000000, seq: 1, pad: 'x'.repeat(Math.max(0, bytes - 108)) } });
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];

for (const [label, json, n] of [['small', publication(140), 400_000], ['4 KB', publication(4096), 100_000]]) {
  for (const [name, f] of Object.entries(variants)) if (!f(json).equals(copy(json))) throw new Error(`${name}: different bytes`);
  const ns = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  let sink = 0;
  for (let round = 0; round < 9; round++) {
    for (const [name, f] of Object.entries(variants)) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) sink += f(json).length;
      ns[name].push(Number(process.hrtime.bigint() - t0) / n);
    }
  }
  if (sink === 0) throw new Error('unreachable');
  const base = median(ns.switchboard);
  const cols = Object.entries(ns).map(([name, a]) => `${name} ${median(a).toFixed(0)} ns (${(median(a) / base).toFixed(2)})`);
  console.log(`${label} (${Buffer.byteLength(json)} B payload): ${cols.join(' | ')}`);
}
