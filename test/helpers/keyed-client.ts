/**
 * What a client of a keyed channel keeps (docs/keyed-channels.md): a map key -> value built from publication pushes,
 * and the position to resume from. The rules here are the ones an SDK follows:
 * - subscribe reply with `snapshot: "full"`: drop the map; position = reply epoch, offset 0 (entries follow);
 * - `snapshot: "delta"` or a recovered replay: keep the map and the position you sent (entries follow);
 * - not recovered and no snapshot (live only): position = the reply's epoch/offset;
 * - each publication: upsert sets the key, delete removes it; position = the publication's epoch/offset;
 * - `caught_up`: position = its epoch/offset (a snapshot's top can be above its last entry); from then on live.
 */
import WebSocket from 'ws';
import type { TestServer } from './server.js';
import { waitFor } from './wait.js';
import type { Frame, WsClient } from './ws-client.js';
import { nodeOf } from '../../src/server.js';

/** [key, value] entries sorted by key: the order every keyed test compares maps in. */
export function byKey<T>(entries: Iterable<[string, T]>): [string, T][] {
  return [...entries].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** An SDK keyed subscription's map as sorted [key, value JSON] entries: the form of `serverState`. */
export function sdkEntries(sub: { entries(): Iterable<[string, unknown]> }): [string, string][] {
  return byKey([...sub.entries()].map(([k, v]): [string, string] => [k, JSON.stringify(v)]));
}

export interface Position {
  epoch: string;
  offset: number;
}

export class KeyedView {
  readonly map = new Map<string, string>();
  position: Position | undefined;
  /** Subscribe outcomes seen: `full`, `delta`, `replay`, `live`. */
  readonly outcomes: string[] = [];
  publications = 0;
  /** `caught_up` pushes seen. */
  caughtUps = 0;
  /** A subscribe sent and not yet answered: its id and the position it resumes from. */
  pendingSubscribe: { id: string; since: Position | undefined } | undefined;

  constructor(readonly channel: string) {}

  /** Applies a subscribe reply (or SSE `connected` channel entry); `since` is what the client asked to resume from. */
  onSubscribed(r: Frame, since: Position | undefined): void {
    if (r.snapshot === 'full') {
      this.map.clear();
      this.position = { epoch: r.epoch, offset: 0 };
      this.outcomes.push('full');
    } else if (r.snapshot === 'delta') {
      this.position = since;
      this.outcomes.push('delta');
    } else if (r.recovered) {
      this.position = since;
      this.outcomes.push('replay');
    } else {
      this.position = { epoch: r.epoch, offset: r.offset };
      this.outcomes.push('live');
    }
  }

  /** Applies a publication or `caught_up` push; returns false for another channel's. Values are kept as JSON text. */
  apply(m: Frame): boolean {
    if (m.push === 'caught_up' && m.channel === this.channel) {
      this.position = { epoch: m.epoch, offset: m.offset };
      this.caughtUps++;
      return true;
    }
    if (m.push !== 'publication' || m.channel !== this.channel) return false;
    if (m.op === 'delete') this.map.delete(m.key);
    else this.map.set(m.key, JSON.stringify(m.payload));
    this.position = { epoch: m.epoch, offset: m.offset };
    this.publications++;
    return true;
  }

  /** The map as sorted entries, for comparisons. */
  entries(): [string, string][] {
    return byKey(this.map);
  }
}

/**
 * Feeds `client`'s frames into the view in arrival order: the reply to a `subscribeView` request and the view's
 * publication pushes (several frames can arrive in one read, so the reply must not be applied later than they are).
 */
export function follow(client: WsClient, view: KeyedView): void {
  client.ws.on('message', (data: WebSocket.RawData) => {
    let m: Frame;
    try {
      m = JSON.parse(data.toString()) as Frame;
    } catch {
      return;
    }
    const p = view.pendingSubscribe;
    if (p && m.id === p.id) {
      view.pendingSubscribe = undefined;
      if (m.result) view.onSubscribed(m.result, p.since);
      return;
    }
    view.apply(m);
  });
}

let nextId = 0;

/** Subscribes with the view's position (if any); the reply is applied by `follow`. Resolves with the reply's result. */
export async function subscribeView(client: WsClient, view: KeyedView, extra: Record<string, unknown> = {}, timeoutMs = 5000): Promise<Frame> {
  const since = view.position;
  const id = `kv-${++nextId}`;
  view.pendingSubscribe = { id, since };
  client.send({ id, method: 'subscribe', params: { channel: view.channel, ...(since ? { since } : {}), ...extra } });
  const reply = await client.next((m) => m.id === id, timeoutMs);
  if (reply.error) throw new Error(`subscribe failed: ${reply.error.code}: ${reply.error.message}`);
  return reply.result;
}

/** The server's state of a keyed channel through `GET /api/state`, paged, as sorted [key, value JSON] entries. */
export async function serverState(baseUrl: string, channel: string, limit = 1000): Promise<{ entries: [string, string][]; epoch: string; offset: number }> {
  const map = new Map<string, string>();
  let cursor: string | undefined;
  for (;;) {
    const q = new URLSearchParams({ channel, limit: String(limit), ...(cursor ? { cursor } : {}) });
    const r = await fetch(`${baseUrl}/api/state?${q}`);
    const body = (await r.json()) as Frame;
    if (r.status !== 200) throw new Error(`GET /api/state: ${r.status} ${JSON.stringify(body)}`);
    if (body.snapshot === 'full') map.clear();
    for (const p of body.publications as Frame[]) {
      if (p.op === 'delete') map.delete(p.key);
      else map.set(p.key, JSON.stringify(p.payload));
    }
    if (!body.next) {
      const entries = byKey(map);
      return { entries, epoch: body.epoch, offset: body.offset };
    }
    cursor = body.next;
  }
}

/**
 * Waits until the server has forgotten the tombstones of `channel` at offsets up to `offset` (their `tombstoneTtl`
 * passed): the broker's state then reports `complete >= offset`. A wait on that fact rather than a sleep sized on
 * the TTL, so a slow machine cannot make the test read the state before they are gone.
 */
export async function tombstonesExpired(srv: TestServer, channel: string, offset: number, timeoutMs = 5000): Promise<void> {
  await waitFor(async () => (await nodeOf(srv.sb).keyedState(channel, { after: 0, limit: 1 })).complete >= offset, {
    timeout: timeoutMs,
    interval: 20,
    label: `the tombstones of ${channel} up to offset ${offset} to expire`,
  });
}
