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
export const encodeCounts = { json: 0, wsFrame: 0, sseHead: 0, sseEvent: 0 };

/** Counts one build of `kind` and returns `v`. */
function built<T>(kind: keyof typeof encodeCounts, v: T): T {
  encodeCounts[kind]++;
  return v;
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

  constructor(readonly pub: ServerPublication) {}

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

  /** The whole SSE event for a single-channel stream, whose id is just this publication's position. */
  sseEvent(): Buffer {
    return (this.sse ??= built('sseEvent', Buffer.from(this.sseHead() + 'id: ' + formatPosition(this.pub) + '\n\n', 'utf8')));
  }
}
