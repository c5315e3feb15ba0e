import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { requestRefusal, type PusherApp } from '../auth/pusher-signature.js';
import type { TraceContext } from '../core/trace-context.js';
import type { SwitchboardNode } from '../node.js';
import type { RegistryReporter } from '../node/registry-reporter.js';
import { ErrorCode, isValidChannel, ReplyError, type PublicationMeta } from '../protocol/index.js';
import { nativeChannelOf, pusherDataJson } from '../protocol/pusher-data.js';
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
 * The Pusher Channels HTTP API of one app, as the `pusher` server libraries call it (docs/compat.md): every request
 * signed with the app secret (auth-signature.ts) within `pusher.timestampWindow`. Events are native publications
 * through the node (the same spans, metrics, namespace rules and history as `POST /api/publish`); `socket_id`
 * skips that one connection.
 */
export class PusherApi {
  private readonly base: string;

  constructor(
    private readonly node: SwitchboardNode,
    private readonly reporter: RegistryReporter,
    private readonly app: PusherApp,
  ) {
    this.base = `/apps/${app.appId}/`;
  }

  /** The handler for a method and path under `/apps/`, with its route name (a label: the pattern, not the path). */
  resolve(method: string, path: string): { name: string; handler: ApiHandler } | undefined {
    if (!path.startsWith(this.base)) return undefined;
    const rest = path.slice(this.base.length).split('/').map(decodeURIComponent);
    const [a, b, c] = rest;
    if (method === 'POST' && rest.length === 1 && a === 'events') return { name: '/apps/{app_id}/events', handler: this.signed(this.events) };
    if (method === 'POST' && rest.length === 1 && a === 'batch_events') return { name: '/apps/{app_id}/batch_events', handler: this.signed(this.batch) };
    if (method === 'GET' && rest.length === 1 && a === 'channels') return { name: '/apps/{app_id}/channels', handler: this.signed(this.channels) };
    if (method === 'GET' && rest.length === 2 && a === 'channels') return { name: '/apps/{app_id}/channels/{channel}', handler: this.signed((_b, url) => this.channel(b!, url)) };
    if (method === 'POST' && rest.length === 3 && a === 'users' && c === 'terminate_connections') {
      return { name: '/apps/{app_id}/users/{user_id}/terminate_connections', handler: this.signed(() => this.terminate(b!)) };
    }
    if (method === 'GET' && rest.length === 3 && a === 'channels' && c === 'users') return { name: '/apps/{app_id}/channels/{channel}/users', handler: this.signed((_b, _u, ctx) => this.users(b!, ctx)) };
    return undefined;
  }

  /** Checks the request signature over the raw body before anything else is done with it. */
  private signed(h: (body: Buffer, url: URL, ctx: TraceContext | undefined) => Promise<unknown>): ApiHandler {
    return async (req: IncomingMessage, url: URL, ctx) => {
      const body = await readBody(req, this.node.config.api.maxBodySize);
      const refusal = requestRefusal(this.app, req.method ?? 'GET', url.pathname, url.searchParams, body, Date.now(), this.node.config.pusher.timestampWindow);
      if (refusal !== undefined) throw new ReplyError(ErrorCode.Unauthorized, `Pusher request signature refused: ${refusal}`);
      return h(body, url, ctx);
    };
  }

  private ready(): void {
    if (!this.node.isReady()) throw new ReplyError(ErrorCode.Unavailable, 'server is not ready (starting, draining or broker unavailable)');
  }

  private readonly events = async (body: Buffer, _url: URL, ctx: TraceContext | undefined): Promise<unknown> => {
    const e = parse(eventSchema, body);
    const channels = e.channels ?? (e.channel === undefined ? [] : [e.channel]);
    if (channels.length === 0) throw new ReplyError(ErrorCode.BadRequest, '"channels" (or "channel") is required');
    this.ready();
    const data = pusherDataJson(e.data);
    await Promise.all(channels.map((ch) => this.publish(ch, e.name, data, e.socket_id, ctx)));
    return {};
  };

  private readonly batch = async (body: Buffer, _url: URL, ctx: TraceContext | undefined): Promise<unknown> => {
    const b = parse(batchSchema, body);
    this.ready();
    await Promise.all(b.batch.map((e) => this.publish(e.channel, e.name, pusherDataJson(e.data), e.socket_id, ctx)));
    return { batch: b.batch.map(() => ({})) };
  };

  /** Closes every connection of a signed-in user, on every node (the native `POST /api/disconnect`). */
  private async terminate(user: string): Promise<unknown> {
    this.ready();
    await this.node.disconnectUser(user);
    return {};
  }

  private publish(pusherChannel: string, event: string, data: string, socketId: string | undefined, ctx: TraceContext | undefined): Promise<unknown> {
    // `sendToUser` publishes to the user channel `#server-to-user-{id}`, natively `pusher-user#{id}`.
    const channel = nativeChannelOf(pusherChannel);
    if (!isValidChannel(channel, this.node.config.channel.maxLength)) throw new ReplyError(ErrorCode.InvalidChannel, `invalid channel name ${JSON.stringify(String(channel).slice(0, 64))}`);
    const meta: PublicationMeta | undefined = socketId === undefined ? undefined : { exclude: socketId };
    return this.node.publish(channel, event, data, meta, this.node.telemetry.tracing ? ctx : undefined);
  }

  private readonly channels = async (_body: Buffer, url: URL): Promise<unknown> => {
    const prefix = url.searchParams.get('filter_by_prefix') ?? '';
    const info = (url.searchParams.get('info') ?? '').split(',');
    if (info.includes('user_count') && !prefix.startsWith('presence-')) throw new ReplyError(ErrorCode.BadRequest, 'info=user_count needs filter_by_prefix=presence-');
    const { counts } = await channelSubscriberCounts(this.reporter);
    const channels: Record<string, Record<string, number>> = {};
    for (const [name, n] of counts) {
      if (!name.startsWith(prefix) || n === 0) continue;
      channels[name] = info.includes('user_count') ? { user_count: await this.userCount(name) } : {};
    }
    return { channels };
  };

  private async channel(name: string, url: URL): Promise<unknown> {
    const info = (url.searchParams.get('info') ?? '').split(',');
    const { counts } = await channelSubscriberCounts(this.reporter);
    const subscriptions = counts.get(name) ?? 0;
    return {
      occupied: subscriptions > 0,
      ...(info.includes('subscription_count') ? { subscription_count: subscriptions } : {}),
      ...(info.includes('user_count') && name.startsWith('presence-') ? { user_count: await this.userCount(name) } : {}),
    };
  }

  private async userCount(channel: string): Promise<number> {
    return new Set((await this.node.presence(channel)).map((m) => m.user)).size;
  }

  private async users(channel: string, ctx: TraceContext | undefined): Promise<unknown> {
    if (!channel.startsWith('presence-')) throw new ReplyError(ErrorCode.BadRequest, 'users are listed for presence channels only');
    const members = await checkedPresence(this.node, channel, ctx);
    return { users: [...new Set(members.map((m) => m.user))].map((id) => ({ id })) };
  }
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
