/**
 * Byte-bounded pages of broker reads (history, keyed state), shared by the WebSocket `history` reply (session) and
 * the server API's `/api/history` and `/api/state`: how much to read first, how much next, which publications fit
 * a reply, and whether a state page is a complete delta.
 */
import type { StatePage } from './broker.js';
import { publicationJson, type ServerPublication, type StreamPosition } from '../protocol/index.js';

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

function position(p: ServerPublication): StreamPosition {
  return { epoch: p.epoch, offset: p.offset };
}
