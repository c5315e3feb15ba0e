import type { TraceContext } from '../core/trace-context.js';
import type { SwitchboardNode } from '../node.js';
import { FIRST_READ, fitPublications, nextReadSize, servesDelta } from '../broker/pages.js';
import { JsonText } from '../http/responses.js';
import { ErrorCode, formatPosition, parsePosition, ReplyError, unknownNamespace, type ServerPublication, type StreamPosition } from '../protocol/index.js';

/**
 * `GET /api/state?channel=<keyed channel>[&since=epoch:offset | &cursor=<next>][&limit=n]`: one page of a keyed
 * channel's latest value per key, in offset order (docs/api.md). Without `since`, or with one the channel can no
 * longer serve (another epoch, or a delete after it was forgotten), the answer is the full state from the start
 * (`snapshot: "full"`: drop what you hold); else only the keys changed after `since` (`snapshot: "delta"`). A full
 * page, or one cut short by `api.maxReplyBytes`, carries `next`: ask again with `cursor=<next>`. A page without it
 * is the end: the state is current as of `epoch:offset`, the position to use as `since` next time.
 *
 * `next` is `epoch:offset:complete`: a reader in the middle of a full read holds keys read on earlier pages, so a
 * delete it has not reached yet matters to it even below its cursor; its read goes on unless such a delete was
 * forgotten meanwhile (`complete` moved), where a bare position would have to start over every time.
 */
export async function keyedStateRoute(node: SwitchboardNode, channel: string, url: URL, ctx: TraceContext | undefined): Promise<JsonText> {
  const rules = node.namespaces.rules(channel);
  if (!rules) throw unknownNamespace(channel);
  if (!rules.keyed) throw new ReplyError(ErrorCode.FeatureDisabled, `channel "${channel}" is not keyed (namespace option "keyed")`);
  const max = node.config.api.maxHistoryLimit;
  const limitText = url.searchParams.get('limit');
  const limit = limitText === null ? Math.min(max, node.config.keyed.pageSize) : Number(limitText);
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > max) throw new ReplyError(ErrorCode.BadRequest, `"limit" must be an integer from 1 to ${max}`);
  const sinceText = url.searchParams.get('since');
  const cursorText = url.searchParams.get('cursor');
  if (sinceText !== null && cursorText !== null) throw new ReplyError(ErrorCode.BadRequest, 'give "since" or "cursor", not both');
  const since = sinceText === null ? undefined : parsePosition(sinceText);
  if (sinceText !== null && !since) throw new ReplyError(ErrorCode.BadRequest, '"since" must be a position "epoch:offset"');
  const cursor = cursorText === null ? undefined : parseCursor(cursorText);
  const from = since ?? cursor;
  return readStatePage(node, channel, from, cursor?.complete, limit, ctx);
}

/** Bytes the response may grow by after its first read (longer offsets in `offset` and `next`). */
const SLACK = 40;

/**
 * One response of at most `api.maxReplyBytes`, read from the broker in steps sized to the bytes left (as history
 * pages are, broker/pages.ts), so a channel of large values is not read whole. Steps are ordinary cursor
 * pages: a key changed between them moves to a higher offset and comes in a later step; when the epoch changes or
 * a delete after the cursor is forgotten between steps, the response ends there and its `next` makes the following
 * request start over.
 */
async function readStatePage(node: SwitchboardNode, channel: string, from: StreamPosition | undefined, knownComplete: number | undefined, limit: number, ctx: TraceContext | undefined): Promise<JsonText> {
  let want = Math.min(limit, FIRST_READ);
  let page = await node.keyedState(channel, { after: from?.offset ?? 0, limit: want }, ctx);
  const delta = from !== undefined && servesDelta(from, page, knownComplete);
  if (from !== undefined && !delta) page = await node.keyedState(channel, { after: 0, limit: want }, ctx);
  const head = (top: StreamPosition) => '{"channel":' + JSON.stringify(channel) + ',"epoch":"' + top.epoch + '","offset":' + top.offset + ',"snapshot":"' + (delta ? 'delta' : 'full') + '","publications":[';
  const budget = node.config.api.maxReplyBytes - Buffer.byteLength(head(page.top), 'utf8') - `],"next":"${formatPosition(page.top)}:${page.complete}"}`.length - SLACK;
  const items: string[] = [];
  let used = 0;
  let remaining = limit;
  let last: ServerPublication | undefined;
  let end = false;
  for (;;) {
    const pubs = page.publications;
    const fit = fitPublications(pubs, budget - used, items.length === 0);
    items.push(...fit.items);
    used += fit.bytes;
    if (fit.items.length > 0) last = pubs[fit.items.length - 1];
    if (fit.items.length < pubs.length) break;
    remaining -= pubs.length;
    // A step shorter than asked holds the state up to its top: the read is complete.
    end = pubs.length < want;
    if (end || remaining === 0 || last === undefined) break;
    want = nextReadSize(remaining, budget - used, used / items.length);
    const more = await node.keyedState(channel, { after: last.offset, limit: want }, ctx);
    if (more.top.epoch !== page.top.epoch || (more.complete !== page.complete && more.complete > last.offset)) break;
    page = more;
  }
  const next = last !== undefined && !end ? `"${formatPosition(last)}:${page.complete}"` : 'null';
  return new JsonText(head(page.top) + items.join(',') + '],"next":' + next + '}');
}

function parseCursor(text: string): { epoch: string; offset: number; complete: number } {
  const i = text.lastIndexOf(':');
  const position = i > 0 ? parsePosition(text.slice(0, i)) : undefined;
  const complete = Number(text.slice(i + 1));
  if (!position || !/^\d{1,15}$/.test(text.slice(i + 1))) throw new ReplyError(ErrorCode.BadRequest, '"cursor" must be the "next" of a previous page');
  return { ...position, complete };
}
