import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { requestRefusal } from '../auth/pusher-signature.js';
import type { PusherAppConfig } from '../auth/pusher-apps.js';
import type { TraceContext } from '../core/trace-context.js';
import type { SwitchboardNode } from '../node.js';
import type { RegistryReporter } from '../node/registry-reporter.js';
import { ErrorCode, isValidChannel, ReplyError, type PublicationMeta } from '../protocol/index.js';
import { nativeChannelOf, nativeUserOf, pusherChannelOf, pusherDataJson } from '../protocol/pusher-data.js';
import type { ApiHandler } from './api.js';
import { readBody } from './body.js';
import { checkedPresence } from './channel-reads.js';
import { channelSubscriberCounts } from './nodes.js';

/** Pusher's own bounds (its HTTP API reference): channels per event and events per batch. */
const MAX_CHANNELS = 100;
const MAX_BATCH = 10;

const SOCKET_ID = z.string().regex(/^\d+\.\d+$/, 'socket_id must look like "1234.5678"');
const eventSchema = z.object({
  name: z.string().min(1).max(200),
  data: z.string(),
  channels: z.array(z.string()).min(1).max(MAX_CHANNELS).optional(),
  channel: z.string().optional(),
  socket_id: SOCKET_ID.optional(),
  info: z.string().optional(),
});
const batchSchema = z.object({
  batch: z.array(z.object({ name: z.string().min(1).max(200), data: z.string(), channel: z.string(), socket_id: SOCKET_ID.optional(), info: z.string().optional() })).min(1).max(MAX_BATCH),
});

/**
 * The Pusher Channels HTTP API of every app (`/apps/{app_id}/…`), as the `pusher` server libraries call it
 * (docs/compat.md): every request signed with that app's secret (auth/pusher-signature.ts) within
 * `pusher.timestampWindow`. Events are native publications through the node (the same spans, metrics, namespace
 * rules and history as `POST /api/publish`) on the app's channels (protocol/pusher-data.ts); `socket_id` skips that
 * one connection. An unknown app id is 404 `not_found`.
 */
export class PusherApi {
  private readonly byId: ReadonlyMap<string, PusherAppConfig>;

  constructor(
    private readonly node: SwitchboardNode,
    private readonly reporter: RegistryReporter,
    apps: readonly PusherAppConfig[],
  ) {
    this.byId = new Map(apps.map((a) => [a.appId, a]));
  }

  /** The handler for a method and path under `/apps/`, with its route name (a label: the pattern, not the path). */
  resolve(method: string, path: string): { name: string; handler: ApiHandler } | undefined {
    let parts: string[];
    try {
      parts = path.slice('/apps/'.length).split('/').map(decodeURIComponent);
    } catch {
      return undefined;
    }
    const [id, ...rest] = parts;
    const route = routeOf(method, rest);
    if (route === undefined) return undefined;
    const app = this.byId.get(id!);
    if (app === undefined) {
      return { name: route, handler: async () => { throw new ReplyError(ErrorCode.NotFound, 'no Pusher app with this id here (pusher.appId, pusher.apps)'); } };
    }
    const [, b] = rest;
    switch (route) {
      case '/apps/{app_id}/events': return { name: route, handler: this.signed(app, (body, _u, ctx) => this.events(app, body, ctx)) };
      case '/apps/{app_id}/batch_events': return { name: route, handler: this.signed(app, (body, _u, ctx) => this.batch(app, body, ctx)) };
      case '/apps/{app_id}/channels': return { name: route, handler: this.signed(app, (_b, url) => this.channels(app, url)) };
      case '/apps/{app_id}/channels/{channel}': return { name: route, handler: this.signed(app, (_b, url) => this.channel(app, b!, url)) };
      case '/apps/{app_id}/users/{user_id}/terminate_connections': return { name: route, handler: this.signed(app, () => this.terminate(app, b!)) };
      default: return { name: route, handler: this.signed(app, (_b, _u, ctx) => this.users(app, b!, ctx)) };
    }
  }

  /** Checks the request signature (with the app's secret) over the raw body before anything else is done with it. */
  private signed(app: PusherAppConfig, h: (body: Buffer, url: URL, ctx: TraceContext | undefined) => Promise<unknown>): ApiHandler {
    return async (req: IncomingMessage, url: URL, ctx) => {
      const body = await readBody(req, this.node.config.api.maxBodySize);
      const refusal = requestRefusal(app, req.method ?? 'GET', url.pathname, url.searchParams, body, Date.now(), this.node.config.pusher.timestampWindow);
      if (refusal !== undefined) throw new ReplyError(ErrorCode.Unauthorized, `Pusher request signature refused: ${refusal}`);
      return h(body, url, ctx);
    };
  }

  private ready(): void {
    if (!this.node.isReady()) throw new ReplyError(ErrorCode.Unavailable, 'server is not ready (starting, draining or broker unavailable)');
  }

  private async events(app: PusherAppConfig, body: Buffer, ctx: TraceContext | undefined): Promise<unknown> {
    const e = parse(eventSchema, body);
    const channels = e.channels ?? (e.channel === undefined ? [] : [e.channel]);
    if (channels.length === 0) throw new ReplyError(ErrorCode.BadRequest, '"channels" (or "channel") is required');
    this.ready();
    const data = pusherDataJson(e.data);
    const natives = channels.map((ch) => this.nativeChannel(app, ch));
    await Promise.all(natives.map((ch) => this.publish(ch, e.name, data, e.socket_id, ctx)));
    return {};
  }

  private async batch(app: PusherAppConfig, body: Buffer, ctx: TraceContext | undefined): Promise<unknown> {
    const b = parse(batchSchema, body);
    const natives = b.batch.map((e) => this.nativeChannel(app, e.channel));
    this.ready();
    await Promise.all(b.batch.map((e, i) => this.publish(natives[i]!, e.name, pusherDataJson(e.data), e.socket_id, ctx)));
    return { batch: b.batch.map(() => ({})) };
  }

  /** Closes every connection of a signed-in user of the app, on every node (the native `POST /api/disconnect`). */
  private async terminate(app: PusherAppConfig, user: string): Promise<unknown> {
    this.ready();
    await this.node.disconnectUser(nativeUserOf(app.namespace, user));
    return {};
  }

  /**
   * The native channel of one of the app's channels; a name Pusher would refuse is `invalid_channel` (it could
   * otherwise name a native namespace, another app's). `sendToUser`'s user channel `#server-to-user-{id}` is
   * natively `pusher-user#{id}` (protocol/pusher-data.ts).
   */
  private nativeChannel(app: PusherAppConfig, pusherChannel: string): string {
    const channel = nativeChannelOf(app.namespace, pusherChannel);
    if (channel === undefined || !isValidChannel(channel, this.node.config.channel.maxLength)) {
      throw new ReplyError(ErrorCode.InvalidChannel, `invalid channel name ${JSON.stringify(pusherChannel.slice(0, 64))}: a Pusher channel name is 1-164 characters of A-Z a-z 0-9 _ - = @ , . ;`);
    }
    return channel;
  }

  private publish(channel: string, event: string, data: string, socketId: string | undefined, ctx: TraceContext | undefined): Promise<unknown> {
    const meta: PublicationMeta | undefined = socketId === undefined ? undefined : { exclude: socketId };
    return this.node.publish(channel, event, data, meta, this.node.telemetry.tracing ? ctx : undefined);
  }

  /** The app's occupied channels (those in its namespace), by their Pusher names. */
  private async channels(app: PusherAppConfig, url: URL): Promise<unknown> {
    const prefix = url.searchParams.get('filter_by_prefix') ?? '';
    const info = (url.searchParams.get('info') ?? '').split(',');
    if (info.includes('user_count') && !prefix.startsWith('presence-')) throw new ReplyError(ErrorCode.BadRequest, 'info=user_count needs filter_by_prefix=presence-');
    const { counts } = await channelSubscriberCounts(this.reporter);
    const channels: Record<string, Record<string, number>> = {};
    for (const [native, n] of counts) {
      if (n === 0) continue;
      // The app's channels are those its Pusher names map to (another app's, or a native name Pusher cannot spell, not).
      const name = pusherChannelOf(native);
      if (!name.startsWith(prefix) || nativeChannelOf(app.namespace, name) !== native) continue;
      channels[name] = info.includes('user_count') ? { user_count: await this.userCount(native) } : {};
    }
    return { channels };
  }

  private async channel(app: PusherAppConfig, name: string, url: URL): Promise<unknown> {
    const native = this.nativeChannel(app, name);
    const info = (url.searchParams.get('info') ?? '').split(',');
    const { counts } = await channelSubscriberCounts(this.reporter);
    const subscriptions = counts.get(native) ?? 0;
    return {
      occupied: subscriptions > 0,
      ...(info.includes('subscription_count') ? { subscription_count: subscriptions } : {}),
      ...(info.includes('user_count') && name.startsWith('presence-') ? { user_count: await this.userCount(native) } : {}),
    };
  }

  private async userCount(channel: string): Promise<number> {
    return new Set((await this.node.presence(channel)).map((m) => m.user)).size;
  }

  private async users(app: PusherAppConfig, channel: string, ctx: TraceContext | undefined): Promise<unknown> {
    if (!channel.startsWith('presence-')) throw new ReplyError(ErrorCode.BadRequest, 'users are listed for presence channels only');
    const members = await checkedPresence(this.node, this.nativeChannel(app, channel), ctx);
    return { users: [...new Set(members.map((m) => m.user))].map((id) => ({ id })) };
  }
}

type Route = '/apps/{app_id}/events' | '/apps/{app_id}/batch_events' | '/apps/{app_id}/channels' | '/apps/{app_id}/channels/{channel}'
  | '/apps/{app_id}/users/{user_id}/terminate_connections' | '/apps/{app_id}/channels/{channel}/users';

/** The route of a method and the path segments after the app id, or undefined for none. */
function routeOf(method: string, rest: readonly string[]): Route | undefined {
  const [a, , c] = rest;
  if (method === 'POST' && rest.length === 1 && a === 'events') return '/apps/{app_id}/events';
  if (method === 'POST' && rest.length === 1 && a === 'batch_events') return '/apps/{app_id}/batch_events';
  if (method === 'GET' && rest.length === 1 && a === 'channels') return '/apps/{app_id}/channels';
  if (method === 'GET' && rest.length === 2 && a === 'channels') return '/apps/{app_id}/channels/{channel}';
  if (method === 'POST' && rest.length === 3 && a === 'users' && c === 'terminate_connections') return '/apps/{app_id}/users/{user_id}/terminate_connections';
  if (method === 'GET' && rest.length === 3 && a === 'channels' && c === 'users') return '/apps/{app_id}/channels/{channel}/users';
  return undefined;
}

function parse<T>(schema: z.ZodType<T>, body: Buffer): T {
  let raw: unknown;
  try {
    raw = JSON.parse(body.toString('utf8'));
  } catch {
    throw new ReplyError(ErrorCode.InvalidJson, 'request body is not valid JSON');
  }
  const r = schema.safeParse(raw);
  if (!r.success) throw new ReplyError(ErrorCode.BadRequest, r.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
  return r.data;
}
