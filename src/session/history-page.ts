/**
 * The WebSocket `history` reply: its frame and the bytes around its publications. The page itself is read by
 * broker/pages.ts (readHistoryPage), which the server API's /api/history uses too.
 */
import type { HistoryReplyPage } from '../broker/pages.js';
import { wsTextFrameOf } from '../delivery/encoded.js';
import type { CommandId, StreamPosition } from '../protocol/index.js';

/** The `history` result object as JSON text; `next` only when the reply was cut (docs/protocol.md#history). */
export function historyResultJson(page: HistoryReplyPage): string {
  let s = '{"publications":[' + page.items.join(',') + '],"epoch":"' + page.top.epoch + '","offset":' + page.top.offset + ',"earliest":' + page.earliest;
  if (page.next) s += ',"next":{"epoch":"' + page.next.epoch + '","offset":' + page.next.offset + '}';
  return s + '}';
}

/** The WebSocket frame of a `history` reply. */
export function historyReplyFrame(id: CommandId, page: HistoryReplyPage): Buffer {
  return wsTextFrameOf('{"id":' + JSON.stringify(id) + ',"result":' + historyResultJson(page) + '}');
}

/** Longest WebSocket frame header (a 64-bit length). */
const WS_HEADER = 10;

/**
 * Bytes of a `history` reply frame besides its publications, at most: the frame of an empty page with the longest
 * `earliest` and `next` the channel's top allows (epochs are ASCII, offsets grow no longer than the top's).
 */
export function historyReplyEnvelope(id: CommandId): (top: StreamPosition) => number {
  const head = Buffer.byteLength(JSON.stringify(id), 'utf8') + WS_HEADER + '{"id":,"result":}'.length;
  return (top) => head + historyResultJson({ items: [], top, earliest: top.offset + 1, next: top }).length;
}

