/**
 * Byte-bounded pages of broker reads (history, keyed state), shared by the WebSocket `history` reply (session) and
 * the server API's `/api/history` and `/api/state`: one history reply's page (readHistoryPage), how much to read
 * first and next, which publications fit a reply, and whether a state page is a complete delta.
 */
import type { TraceContext } from '../core/trace-context.js';
import type { HistoryPage, HistoryQuery, StatePage } from './broker.js';
import { publicationJson, type ServerPublication, type StreamPosition } from '../protocol/index.js';
import { publicationJsonIn } from '../protocol/seed000.js';

/**
 * What a history page reads through: the node's timed and traced `history` (sessions' NodeServices and the node
 * itself fit), and the seed 000 channel whose chats are encoded in their own shape.
 */
export interface HistoryReader {
  history(channel: string, query: HistoryQuery, parent?: TraceContext): Promise<HistoryPage>;
  readonly config: { readonly compat: { readonly seed000Channel: string } };
}

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
export interface HistoryReplyPage {
  /** Publications as JSON text (the publication push form), in reply order. */
  readonly items: string[];
  readonly top: StreamPosition;
  readonly earliest: number;
  /**
   * Set when the byte bound left matching publications out: the position of the last publication in `items`.
   * Ask again with `since` (oldest first) or `before` (newest first) set to it.
   */
  readonly next?: StreamPosition;
}

/** Bytes a reply's envelope may grow by after its first read (one more digit in `offset` and in `next`). */
const SLACK = 8;

/**
 * Publications asked of the broker by a page's first read. Later reads are sized by the average publication seen so
 * far to what the remaining bytes can hold, so a channel of large publications is not read whole (Redis: reading
 * 100 x 500 KB took ~0.8 s and blocked the event loop up to 140 ms per command; in 2-3 sized reads ~20 ms) while
 * small publications still come in two reads.
 */
export const FIRST_READ = 2;

/**
 * How many publications to read next: one more than `left` bytes hold at `average` bytes each (so a read that ends
 * the page usually also shows there is more), at least one, at most `remaining`.
 */
export function nextReadSize(remaining: number, left: number, average: number): number {
  return Math.min(remaining, Math.max(1, Math.floor(left / average) + 1));
}

/**
 * The first publications of `pubs` whose JSON text (plus a comma each) fits in `budget` bytes, and the bytes they
 * take; with `atLeastOne` the first is taken whatever its size. `next` is the position of the last one taken when
 * some were left out. `toJson`: the publication's JSON text in the reader's dialect (default: native).
 */
export function fitPublications(
  pubs: readonly ServerPublication[],
  budget: number,
  atLeastOne = true,
  toJson: (p: ServerPublication) => string = publicationJson,
): { items: string[]; bytes: number; next?: StreamPosition } {
  const items: string[] = [];
  let bytes = 0;
  for (let i = 0; i < pubs.length; i++) {
    const json = toJson(pubs[i]!);
    const size = Buffer.byteLength(json, 'utf8') + 1;
    if ((i > 0 || !atLeastOne) && bytes + size > budget) return { items, bytes, ...(i > 0 ? { next: position(pubs[i - 1]!) } : {}) };
    bytes += size;
    items.push(json);
  }
  return { items, bytes };
}

/**
 * Whether a state page read after `since` is a complete delta for a holder of that position: same epoch, not in the
 * future, and every delete after it still remembered (the channel's `complete` watermark is at or below it, or is
 * still `knownComplete`, the watermark a paged read started under).
 */
export function servesDelta(since: StreamPosition, page: StatePage, knownComplete?: number): boolean {
  return page.top.epoch === since.epoch && since.offset <= page.top.offset &&
    (page.complete <= since.offset || page.complete === knownComplete);
}

/**
 * Reads history for one reply of at most `maxBytes` bytes, `envelope` of them taken by the reply around the
 * publications (with the longest `next` it may carry). Publications are added whole, in order, until the next one
 * would pass the bound; at least one is always added, so paging makes progress even past a publication larger than
 * the bound (publish limits bound its size). Only the publications kept are turned into JSON text (plus the one
 * that did not fit), and the broker is read in steps sized to the bytes left, so a long history of large
 * publications costs one reply's worth of work, not the whole of it.
 */
export async function readHistoryPage(
  node: HistoryReader,
  channel: string,
  q: HistoryPageQuery,
  maxBytes: number,
  envelope: (top: StreamPosition) => number,
  ctx?: TraceContext,
): Promise<HistoryReplyPage> {
  let range = q;
  let want = Math.min(q.limit, FIRST_READ);
  let remaining = q.limit;
  // The read whose position the reply reports: the latest one used, so no publication in the reply is past it.
  let cur: HistoryPage | undefined;
  let budget = 0;
  let used = 0;
  const items: string[] = [];
  let last: ServerPublication | undefined;
  const toJson = publicationJsonIn(channel, node.config.compat.seed000Channel);
  for (;;) {
    const h = await readRange(node, channel, { ...range, limit: want }, ctx);
    // SLACK: the top, hence `offset` and `next`, may grow a digit in later reads.
    if (cur === undefined) budget = maxBytes - envelope(h.top) - SLACK;
    const pubs = h.publications;
    // The channel changed between two reads (new epoch, or trimmed past the cursor): this reply ends here.
    if (cur !== undefined && last !== undefined && (h.top.epoch !== cur.top.epoch || (pubs.length > 0 && pubs[0]!.offset !== last.offset + (q.reverse ? -1 : 1)))) {
      return page(items, cur, last);
    }
    cur = h;
    const fit = fitPublications(pubs, budget - used, items.length === 0, toJson);
    items.push(...fit.items);
    used += fit.bytes;
    if (fit.items.length > 0) last = pubs[fit.items.length - 1];
    if (fit.items.length < pubs.length) return page(items, cur, last);
    remaining -= pubs.length;
    if (pubs.length < want || remaining === 0 || last === undefined) return page(items, cur, undefined);
    range = q.reverse ? { ...q, before: position(last) } : { ...q, since: position(last) };
    want = nextReadSize(remaining, budget - used, used / items.length);
  }
}

function page(items: string[], h: HistoryPage, next: ServerPublication | undefined): HistoryReplyPage {
  return { items, top: h.top, earliest: h.earliest, ...(next ? { next: position(next) } : {}) };
}

/**
 * The broker read for a query. With `before`, the range (since, before) is read as one window: kept offsets are
 * contiguous in an epoch, so the newest `limit` before `before` start at `before - limit`. A `before` (or `since`)
 * of another epoch than the current one matches nothing, as `since` alone does.
 */
async function readRange(node: HistoryReader, channel: string, q: HistoryPageQuery, ctx: TraceContext | undefined): Promise<HistoryPage> {
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

function position(p: ServerPublication): StreamPosition {
  return { epoch: p.epoch, offset: p.offset };
}
