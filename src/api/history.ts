import type { TraceContext } from '../core/trace-context.js';
import type { SwitchboardNode } from '../node.js';
import { ErrorCode, formatPosition, historyLimitProblem, parsePosition, ReplyError, type StreamPosition } from '../protocol/index.js';
import { readHistoryPage, type HistoryReplyPage } from '../broker/pages.js';
import { JsonText } from '../http/responses.js';

/**
 * `GET /api/history?channel=c[&since=epoch:offset][&before=epoch:offset][&limit=n][&reverse=true]` (docs/api.md).
 * The response holds at most `api.maxReplyBytes` bytes: when that cuts it short, `next` is the position of its last
 * publication; ask again with `since=<next>` (oldest first) or `before=<next>` (newest first).
 */
export async function historyRoute(node: SwitchboardNode, channel: string, url: URL, ctx: TraceContext | undefined): Promise<JsonText> {
  const max = node.config.api.maxHistoryLimit;
  const limitText = url.searchParams.get('limit');
  const limit = limitText === null ? max : Number(limitText);
  // The WebSocket `history` command's rule (protocol/fields.ts).
  const problem = historyLimitProblem(limit, max);
  if (problem) throw new ReplyError(problem.code, `"limit" ${problem.message}`);
  const since = positionParam(url, 'since');
  const before = positionParam(url, 'before');
  const reverse = url.searchParams.get('reverse') === 'true';
  const head = '{"channel":' + JSON.stringify(channel);
  // Bytes around the publications at most: the longest `earliest` and `next` the channel's top allows.
  const envelope = (top: StreamPosition) => Buffer.byteLength(responseJson(head, { items: [], top, earliest: top.offset + 1, next: top }), 'utf8');
  const page = await readHistoryPage(node, channel, { since, before, limit, reverse }, node.config.api.maxReplyBytes, envelope, ctx);
  return new JsonText(responseJson(head, page));
}

function responseJson(head: string, page: HistoryReplyPage): string {
  const { top } = page;
  let s = head + ',"epoch":"' + top.epoch + '","offset":' + top.offset + ',"earliest":' + page.earliest + ',"publications":[' + page.items.join(',') + ']';
  if (page.next) s += ',"next":"' + formatPosition(page.next) + '"';
  return s + '}';
}

function positionParam(url: URL, name: 'since' | 'before'): StreamPosition | undefined {
  const text = url.searchParams.get(name);
  if (text === null) return undefined;
  const p = parsePosition(text);
  if (!p) throw new ReplyError(ErrorCode.BadRequest, `"${name}" must be a position "epoch:offset"`);
  return p;
}
