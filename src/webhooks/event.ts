/**
 * Webhook events as the receiver sees them: one JSON object each, built once by string concatenation (channel,
 * user and data are escaped by JSON.stringify; publication data, already JSON text, is embedded as is). Every event
 * has `id` (unique: the receiver drops one it already has, since delivery is at least once), `name` and `time`
 * (ms since the epoch, when it happened on the node). The Redis sweep builds `channel_vacated` in Lua with the same
 * fields (webhook-scripts.ts).
 */
import type { Member, ServerPublication } from '../protocol/index.js';
import type { ClientRef } from '../node/events.js';

export type WebhookEventName =
  | 'client_connected'
  | 'client_disconnected'
  | 'channel_occupied'
  | 'channel_vacated'
  | 'member_added'
  | 'member_removed'
  | 'publication';

/** Event ids: `<node id>-<sequence>`, unique across nodes and restarts (a node id is random per process). */
export class EventIds {
  private seq = 0;
  constructor(private readonly nodeId: string) {}
  next(): string {
    return `${this.nodeId}-${++this.seq}`;
  }
}

function head(id: string, name: WebhookEventName, time: number): string {
  return '{"id":' + JSON.stringify(id) + ',"name":"' + name + '","time":' + time;
}

export function clientEvent(id: string, name: 'client_connected' | 'client_disconnected', time: number, c: ClientRef): string {
  return head(id, name, time) + ',"client":' + JSON.stringify(c.id) + ',"user":' + JSON.stringify(c.userId) + ',"transport":' + JSON.stringify(c.transport) + '}';
}

export function channelEvent(id: string, name: 'channel_occupied' | 'channel_vacated', time: number, channel: string): string {
  return head(id, name, time) + ',"channel":' + JSON.stringify(channel) + '}';
}

export function memberEvent(id: string, name: 'member_added' | 'member_removed', time: number, channel: string, m: Member): string {
  const info = m.info === undefined ? '' : ',"info":' + JSON.stringify(m.info);
  return head(id, name, time) + ',"channel":' + JSON.stringify(channel) + ',"client":' + JSON.stringify(m.client) + ',"user":' + JSON.stringify(m.user) + info + '}';
}

export function publicationEvent(id: string, time: number, p: ServerPublication): string {
  return head(id, 'publication', time) + ',"channel":' + JSON.stringify(p.channel) + ',"event":' + JSON.stringify(p.event) +
    ',"data":' + p.data + ',"epoch":' + JSON.stringify(p.epoch) + ',"offset":' + p.offset + '}';
}

/** The request body of a batch: `{"events":[...]}`. */
export function batchBody(events: readonly string[]): string {
  return '{"events":[' + events.join(',') + ']}';
}
