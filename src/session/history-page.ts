import type { Context } from '@opentelemetry/api';
import type { HistoryResult } from '../broker/broker.js';
import { wsTextFrameOf } from '../hub/encoded.js';
import { publicationJson, type CommandId, type Publication, type StreamPosition } from '../protocol/index.js';
import type { NodeServices } from './services.js';

/** A history read as a client asks it: `history` command and `GET /api/history` (docs/protocol.md#history). */
export interface HistoryPageQuery {
  /** Only publications after this position. */
  readonly since?: StreamPosition;
  /** Only publications before this position: how a newest-first read goes on after a cut reply. */
  readonly before?: StreamPosition;
  readonly limit: number;
  /** Newest first. */
  readonly reverse?: boolean;
}

/** One reply's worth of a history read, its publications already JSON text. */
export interface HistoryPage {
  /** Publication objects as JSON text (the publication push form), in reply order. */
  readonly items: string[];
  readonly top: StreamPosition;
  readonly earliest: number;
  /**
   * Set when the byte bound left matching publications out: the position of the last publication in `items`.
   * Ask again with `since` (oldest first) or `before` (newest first) set to it.
   */
  readonly next?: StreamPosition;
}

/**
 * Reads history for one reply of at most `maxBytes` bytes, `envelope` of them taken by the reply around the
 * publications (with the longest `next` it may carry). Publications are added whole, in order, until the next one
 * would pass the bound; at least one is always added, so paging makes progress even past a publication larger than
 * the bound (publish limits bound its size). Only the publications kept are turned into JSON text (plus the one
 * that did not fit), so a long history of large publications costs one reply's worth of CPU, not the whole of it.
 */
export async function readHistoryPage(
  node: Pick<NodeServices, 'history'>,
  channel: string,
  q: HistoryPageQuery,
  maxBytes: number,
  envelope: (top: StreamPosition) => number,
  ctx?: Context,
): Promise<HistoryPage> {
  const h = await readRange(node, channel, q, ctx);
  const { items, next } = fitPublications(h.publications, maxBytes - envelope(h.top));
  return { items, top: h.top, earliest: h.earliest, ...(next ? { next } : {}) };
}

/**
 * The first publications of `pubs` whose JSON text (plus a comma each) fits in `budget` bytes, at least one; `next`
 * is the position of the last one taken when some were left out.
 */
export function fitPublications(pubs: readonly Publication[], budget: number): { items: string[]; next?: StreamPosition } {
  const items: string[] = [];
  for (let i = 0; i < pubs.length; i++) {
    const json = publicationJson(pubs[i]!);
    const size = Buffer.byteLength(json, 'utf8') + 1;
    if (i > 0 && size > budget) return { items, next: position(pubs[i - 1]!) };
    budget -= size;
    items.push(json);
  }
  return { items };
}

/**
 * The broker read for a query. With `before`, the range (since, before) is read as one window: kept offsets are
 * contiguous in an epoch, so the newest `limit` before `before` start at `before - limit`. A `before` (or `since`)
 * of another epoch than the current one matches nothing, as `since` alone does.
 */
async function readRange(node: Pick<NodeServices, 'history'>, channel: string, q: HistoryPageQuery, ctx: Context | undefined): Promise<HistoryResult> {
  const { since, before, limit, reverse } = q;
  if (before === undefined) return node.history(channel, { since, limit, reverse }, ctx);
  if (since !== undefined && since.epoch !== before.epoch) {
    const h = await node.history(channel, { limit: 0 }, ctx);
    return { ...h, publications: [] };
  }
  const low = since?.offset ?? 0;
  const n = Math.min(limit, Math.max(0, before.offset - low - 1));
  const from = reverse ? Math.max(low, before.offset - 1 - n) : low;
  const h = await node.history(channel, { since: { epoch: before.epoch, offset: from }, limit: n }, ctx);
  const publications = h.publications.filter((p) => p.offset < before.offset);
  if (reverse) publications.reverse();
  return { ...h, publications };
}

/** The `history` result object as JSON text; `next` only when the reply was cut (docs/protocol.md#history). */
export function historyResultJson(page: HistoryPage): string {
  let s = '{"publications":[' + page.items.join(',') + '],"epoch":"' + page.top.epoch + '","offset":' + page.top.offset + ',"earliest":' + page.earliest;
  if (page.next) s += ',"next":{"epoch":"' + page.next.epoch + '","offset":' + page.next.offset + '}';
  return s + '}';
}

/** The WebSocket frame of a `history` reply. */
export function historyReplyFrame(id: CommandId, page: HistoryPage): Buffer {
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

function position(p: Publication): StreamPosition {
  return { epoch: p.epoch, offset: p.offset };
}
