import type { Context } from '@opentelemetry/api';
import type { SwitchboardNode } from '../node.js';
import { servesDelta } from '../session/keyed.js';
import { fitPublications } from '../session/history-page.js';
import { JsonText } from '../transport/http-util.js';
import { ErrorCode, formatPosition, parsePosition, ReplyError } from '../protocol/index.js';

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
export async function keyedStateRoute(node: SwitchboardNode, channel: string, url: URL, ctx: Context): Promise<JsonText> {
  const rules = node.namespaces.rules(channel);
  if (!rules) throw new ReplyError(ErrorCode.UnknownNamespace, `channel "${channel}" is in a namespace this server does not declare (namespaces)`);
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
  let page = await node.keyedState(channel, { after: from?.offset ?? 0, limit }, ctx);
  const delta = from !== undefined && servesDelta(from, page, cursor?.complete);
  if (from !== undefined && !delta) page = await node.keyedState(channel, { after: 0, limit }, ctx);
  // At most api.maxReplyBytes: a page cut short by it carries `next` as a full page does (the cursor after its last entry).
  const head = '{"channel":' + JSON.stringify(channel) + ',"epoch":"' + page.top.epoch + '","offset":' + page.top.offset + ',"snapshot":"' + (delta ? 'delta' : 'full') + '","publications":[';
  const longestNext = `,"next":"${formatPosition(page.top)}:${page.complete}"}`;
  const fit = fitPublications(page.publications, node.config.api.maxReplyBytes - Buffer.byteLength(head, 'utf8') - longestNext.length - 1);
  const last = fit.next ?? page.publications[page.publications.length - 1];
  const next = last !== undefined && (fit.next !== undefined || page.publications.length === limit) ? `"${formatPosition(last)}:${page.complete}"` : 'null';
  return new JsonText(head + fit.items.join(',') + '],"next":' + next + '}');
}

function parseCursor(text: string): { epoch: string; offset: number; complete: number } {
  const i = text.lastIndexOf(':');
  const position = i > 0 ? parsePosition(text.slice(0, i)) : undefined;
  const complete = Number(text.slice(i + 1));
  if (!position || !/^\d{1,15}$/.test(text.slice(i + 1))) throw new ReplyError(ErrorCode.BadRequest, '"cursor" must be the "next" of a previous page');
  return { ...position, complete };
}
