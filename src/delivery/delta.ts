import { createDelta } from 'fossil-delta';
import { publicationJson } from '../protocol/index.js';
import { encodeCounts, wsTextFrameOf, type EncodedPublication } from './encoded.js';

/**
 * Delta compression (subscribe `"delta": "fossil"`, docs/protocol.md). Deltas are computed between canonical texts
 * of the data — `JSON.stringify(JSON.parse(data))` — because that is what a client can rebuild exactly from the
 * data it was handed (the SDK keeps the text it reconstructed, or stringifies a full payload). A delta travels as a
 * JSON string whose characters are its bytes (U+0000-U+00FF): a fossil delta of JSON text is mostly that text, so
 * this costs only escapes (quotes), about 20 % less than base64 on the ticker benchmark.
 */

/** The canonical text of a publication's data as UTF-8, computed once per publication. */
function canonicalBytes(enc: EncodedPublication): Uint8Array | null {
  const cache = enc.deltaCache;
  if (cache.canonical === undefined) {
    try {
      cache.canonical = Buffer.from(JSON.stringify(JSON.parse(enc.pub.data)), 'utf8');
    } catch {
      cache.canonical = null; // not JSON after all (it always is when published through the node): full payloads
    }
  }
  return cache.canonical;
}

/**
 * The WebSocket frame of `enc` as a delta against `base` (an earlier publication of the same stream), built once
 * per distinct base and shared by every subscriber at that base; undefined when a full payload must go instead:
 * the delta is not smaller than the data, the data is not JSON, or `maxBases` other bases were already served.
 */
export function deltaFrame(enc: EncodedPublication, base: EncodedPublication, maxBases: number): Buffer | undefined {
  if (base.pub.epoch !== enc.pub.epoch) return undefined;
  const offset = base.pub.offset;
  const frames = enc.deltaCache.frames;
  for (const f of frames) if (f.base === offset) return f.frame ?? undefined;
  if (frames.length >= maxBases) return undefined;
  const from = canonicalBytes(base);
  const to = canonicalBytes(enc);
  let frame: Buffer | null = null;
  if (from !== null && to !== null) {
    encodeCounts.delta++;
    const json = JSON.stringify(Buffer.from(createDelta(from, to)).toString('latin1'));
    if (Buffer.byteLength(json, 'utf8') < Buffer.byteLength(enc.pub.data, 'utf8')) frame = wsTextFrameOf(publicationJson(enc.pub, json));
  }
  frames.push({ base: offset, frame });
  return frame ?? undefined;
}

/** What delta compression needs of the server's configuration (`delta.*`). */
export interface DeltaSettings {
  readonly fullEvery: number;
  readonly maxBases: number;
}

/**
 * One delta subscription's side: the publication it was last sent (the base the client holds) and how many deltas
 * in a row it got. Every frame goes through `frame`, which remembers the publication as the next base.
 */
export class DeltaStream {
  private base: EncodedPublication | undefined;
  /** Deltas sent since the last full payload. */
  private run = 0;

  constructor(private readonly settings: DeltaSettings) {}

  /**
   * The frame for `enc`: a delta against the last publication framed when `live` (replayed publications, the first
   * one after subscribing, every `fullEvery`-th and those whose delta is no smaller go in full). Idempotent for a
   * full payload (a replay frames each publication twice: once to size it, once to send it).
   */
  frame(enc: EncodedPublication, live: boolean): Buffer {
    const base = this.base;
    this.base = enc;
    if (live && base !== undefined && this.run + 1 < this.settings.fullEvery) {
      const delta = deltaFrame(enc, base, this.settings.maxBases);
      if (delta !== undefined) {
        this.run++;
        return delta;
      }
    }
    this.run = 0;
    return enc.wsFrame();
  }
}
