import { encodeSseEventHead, formatPosition, publicationJson, type ServerPublication } from '../protocol/index.js';
import { wsTextFrameHeaderLength, writeWsTextFrameHeader } from '../protocol/ws-frame.js';

/**
 * `json` as one WebSocket text frame, built once and shared by every recipient. The header comes from the protocol
 * layer; the text is encoded straight into the frame after it (no intermediate payload buffer: 0.6× the time of
 * encode-then-copy for a 4 KB message, bench/ws-frame-cost.js).
 */
export function wsTextFrameOf(json: string): Buffer {
  const payloadBytes = Buffer.byteLength(json, 'utf8');
  const frame = Buffer.allocUnsafe(wsTextFrameHeaderLength(payloadBytes) + payloadBytes);
  frame.write(json, writeWsTextFrameHeader(frame, payloadBytes), payloadBytes, 'utf8');
  return frame;
}

/**
 * Publication encodings built by this process, per kind: with the encode-once cache each is built at most once per
 * publication, however many connections receive it. Plain integers (an increment per build, never per recipient);
 * test/integration/delivery-cost.test.ts reads them to prove the sharing on real sockets.
 */
export const encodeCounts = { json: 0, wsFrame: 0, sseHead: 0, sseEvent: 0, dialectFrame: 0, delta: 0 };

/** Counts one build of `kind` and returns `v`. */
function built<T>(kind: keyof typeof encodeCounts, v: T): T {
  encodeCounts[kind]++;
  return v;
}

/**
 * The frame of a publication in another protocol's shape (Pusher's `{event, channel, data}`, later Centrifuge's),
 * built by `build` at most once per publication and shared by every recipient speaking it. One object per format,
 * made once (its identity is the cache key).
 */
export interface FrameFormat {
  readonly name: string;
  build(pub: ServerPublication): Buffer;
}

/**
 * What delta compression (delta.ts) keeps on a publication: the canonical UTF-8 text of its data (null: not JSON),
 * and its delta frames by the offset of their base (null: a full payload goes instead), at most `delta.maxBases`.
 */
export interface DeltaCache {
  canonical: Uint8Array | null | undefined;
  readonly frames: { readonly base: number; readonly frame: Buffer | null }[];
}

/**
 * A publication encoded for every wire format, each built on first use and then shared: "Encoded payloads are
 * shared by all subscribers". Recipients only ever read these buffers.
 */
export class EncodedPublication {
  private jsonText: string | undefined;
  private ws: Buffer | undefined;
  private sse: Buffer | undefined;
  private sseHeadText: string | undefined;
  /** Frames in dialect formats (FrameFormat), usually zero or one: a list is cheaper than a map for so few. */
  private dialectFrames: { format: FrameFormat; frame: Buffer }[] | undefined;

  private deltas: DeltaCache | undefined;

  constructor(readonly pub: ServerPublication) {}

  /** Delta compression's per-publication cache (delta.ts), made on first use. */
  get deltaCache(): DeltaCache {
    return (this.deltas ??= { canonical: undefined, frames: [] });
  }

  get json(): string {
    return (this.jsonText ??= built('json', publicationJson(this.pub)));
  }

  /** The WebSocket frame. */
  wsFrame(): Buffer {
    return (this.ws ??= built('wsFrame', wsTextFrameOf(this.json)));
  }

  /** `event:` and `data:` lines, without id and terminator (multi-channel SSE streams add their own id). */
  sseHead(): string {
    return (this.sseHeadText ??= built('sseHead', encodeSseEventHead(this.pub.event, this.json)));
  }

  /** The frame of this publication in `format`, built on first use. */
  frameIn(format: FrameFormat): Buffer {
    const list = (this.dialectFrames ??= []);
    for (const f of list) if (f.format === format) return f.frame;
    const frame = built('dialectFrame', format.build(this.pub));
    list.push({ format, frame });
    return frame;
  }

  /** The whole SSE event for a single-channel stream, whose id is just this publication's position. */
  sseEvent(): Buffer {
    return (this.sse ??= built('sseEvent', Buffer.from(this.sseHead() + 'id: ' + formatPosition(this.pub) + '\n\n', 'utf8')));
  }
}
