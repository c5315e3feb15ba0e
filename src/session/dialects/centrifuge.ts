import { CommandError, decodeFrame, ErrorCode, type Command, type CommandId, type DecodeLimits, type ErrorBody, type SubscribeResult } from '../../protocol/index.js';
import type { HistoryReplyPage } from '../../broker/pages.js';
import type { Dialect, Translation } from './dialect.js';

/**
 * The Centrifuge client protocol (JSON, as `centrifuge` 5.x speaks it; docs/compat.md "Migrating from Centrifugo"). Every
 * command (`{"id", "<method>": {...}}`) becomes the native command (`{"id", "method", "params"}`) it stands for and
 * goes through the native decoder, so field checks, permissions, limits, spans and metrics are the native ones.
 * Replies keep Centrifuge's shape: `{"id", "<method>": result}` or `{"id", "error": {code, message}}`.
 *
 * `connect` is answered by the endpoint (src/transport/centrifuge.ts) before a session exists; one in a session is
 * refused. Empty frames `{}` (pongs) never reach here (CentrifugeSession).
 */
export class CentrifugeDialect implements Dialect {
  readonly name = 'centrifuge';
  /** Centrifuge clients know no `caught_up` push. */
  readonly announcesCatchUp = false;
  /**
   * Ids of `presence_stats` commands in flight: translated into native `presence`, answered with counts. At most
   * one entry per queued command (client.queueMaxBytes bounds those); removed by the reply or the error.
   */
  private readonly stats = new Set<CommandId>();
  /** Ids of `history` commands in flight asking for the position only (limit 0); bounded like `stats`. */
  private readonly positionOnly = new Set<CommandId>();

  constructor(private readonly limits: DecodeLimits) {}

  recognizes(): boolean {
    return true;
  }

  translate(frame: Record<string, unknown>): Translation {
    const id = typeof frame.id === 'number' && Number.isInteger(frame.id) && frame.id > 0 ? frame.id : null;
    const [method, body] = commandOf(frame, id);
    const p = body as Record<string, unknown>;
    let native: Record<string, unknown>;
    switch (method) {
      case 'subscribe': {
        // Centrifuge's `{epoch, offset}` is Switchboard's stream position, one to one.
        const since = p.recover === true && typeof p.epoch === 'string' && p.epoch !== '' ? { epoch: p.epoch, offset: p.offset ?? 0 } : undefined;
        // `data` goes to the subscribe proxy (its `data` comes back in the reply); without a proxy it is ignored.
        native = { channel: p.channel, since, token: p.token === '' ? undefined : p.token, data: p.data };
        break;
      }
      case 'unsubscribe':
      case 'presence':
        native = { channel: p.channel };
        break;
      case 'presence_stats':
        this.stats.add(id);
        return this.step(id, 'presence', { channel: p.channel });
      case 'publish':
        // Centrifuge publications have no event name: the native default.
        native = { channel: p.channel, event: 'message', data: p.data };
        break;
      case 'history': {
        if (p.limit === 0 || p.limit === undefined) this.positionOnly.add(id);
        const since = p.since as Record<string, unknown> | undefined;
        native = {
          channel: p.channel,
          // Centrifuge's limit 0 (or none) asks for the position only; the native limit must be >= 1: read one, drop it.
          limit: typeof p.limit === 'number' && p.limit > 0 ? p.limit : 1,
          since: since && typeof since.epoch === 'string' ? { epoch: since.epoch, offset: since.offset ?? 0 } : undefined,
          reverse: p.reverse,
        };
        break;
      }
      case 'refresh':
        native = { token: p.token };
        break;
      case 'sub_refresh':
        return this.step(id, 'refresh', { token: p.token, channel: p.channel ?? '' });
      case 'rpc':
        native = { method: p.method, data: p.data };
        break;
      case 'connect':
        throw new CommandError(ErrorCode.BadRequest, 'already connected', id);
      default:
        throw new CommandError(ErrorCode.UnknownMethod, `unknown command ${JSON.stringify(method.slice(0, 64))}`, id);
    }
    return this.step(id, method, native);
  }

  private step(id: CommandId, method: string, params: Record<string, unknown>): Translation {
    return { steps: [{ command: decodeFrame({ id, method, params: withoutUndefined(params) }, this.limits) }] };
  }

  /** The success reply of a native command in Centrifuge's shape (ws-session.ts calls it with the native result). */
  resultJson(cmd: Command, result: unknown): string {
    const r = result as Record<string, unknown>;
    let name: string = cmd.method;
    let body: unknown = {};
    switch (cmd.method) {
      case 'subscribe':
        body = centrifugeSubscribed(result as SubscribeResult, cmd.params.since !== undefined);
        break;
      case 'presence': {
        const members = (r.members ?? []) as { client: string; user: string; info?: unknown }[];
        if (this.stats.delete(cmd.id)) {
          name = 'presence_stats';
          body = { num_clients: members.length, num_users: new Set(members.map((m) => m.user)).size };
        } else {
          const presence: Record<string, unknown> = {};
          for (const m of members) presence[m.client] = { client: m.client, user: m.user, ...(m.info === undefined ? {} : { conn_info: m.info }) };
          body = { presence };
        }
        break;
      }
      case 'refresh': {
        const exp = typeof r.expires === 'number' ? { expires: true, ttl: ttlOf(r.expires) } : {};
        if (cmd.params.channel !== undefined) name = 'sub_refresh';
        body = exp;
        break;
      }
      case 'history': {
        // `result` is the native page (broker/pages.ts): its items are native publication JSON, read back once.
        const page = result as HistoryReplyPage;
        const publications = this.positionOnly.delete(cmd.id) ? [] : page.items.map(centrifugeHistoryItem);
        body = { publications, epoch: page.top.epoch, offset: page.top.offset };
        break;
      }
      case 'rpc':
        // `result` is the backend's data as JSON text.
        return '{"id":' + JSON.stringify(cmd.id) + ',"rpc":{"data":' + String(result) + '}}';
    }
    return JSON.stringify({ id: cmd.id, [name]: body });
  }

  errorJson(id: CommandId, error: ErrorBody): string {
    this.stats.delete(id);
    this.positionOnly.delete(id);
    const code = centrifugeCode(error.code, 100);
    // Centrifuge's `temporary` flag: the client retries such a subscribe itself.
    const temporary = error.code === ErrorCode.Unavailable || error.code === ErrorCode.TooManyRequests || error.code === ErrorCode.Internal;
    return JSON.stringify({ ...(id === null ? {} : { id }), error: { code, message: `${error.code}: ${error.message}`, ...(temporary ? { temporary: true } : {}) } });
  }
}

/**
 * A subscription's state in Centrifuge's shape: a subscribe reply's result, and an entry of a connect reply's `subs`
 * (server-side subscriptions). Every channel is recoverable and positioned: it has a stream position `{epoch, offset}`.
 */
export function centrifugeSubscribed(r: SubscribeResult, recovering: boolean): Record<string, unknown> {
  return {
    recoverable: true,
    positioned: true,
    epoch: r.epoch,
    offset: r.offset,
    ...(recovering ? { was_recovering: true, recovered: r.recovered } : {}),
    ...(typeof r.expires === 'number' ? { expires: true, ttl: ttlOf(r.expires) } : {}),
    ...(r.data !== undefined ? { data: r.data } : {}),
  };
}

/** Centrifuge's error number for a Switchboard error code (its client treats 100-199 as server errors). */
export function centrifugeCode(code: string, otherwise: number): number {
  return CODES[code] ?? otherwise;
}

/** A native history item (`{"payload", "offset", ...}`) as a Centrifuge publication (`{data, offset, tags}`). */
function centrifugeHistoryItem(json: string): unknown {
  const p = JSON.parse(json) as { payload: unknown; offset: number; type?: string };
  return { data: p.payload, offset: p.offset, ...(p.type && p.type !== 'message' ? { tags: { event: p.type } } : {}) };
}

/** `{"id", "<method>": {...}}`: the one command key besides `id`. */
function commandOf(frame: Record<string, unknown>, id: CommandId): [string, unknown] {
  for (const key of Object.keys(frame)) {
    if (key === 'id') continue;
    const body = frame[key];
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new CommandError(ErrorCode.BadRequest, `"${key.slice(0, 64)}" must be an object`, id);
    }
    return [key, body];
  }
  throw new CommandError(ErrorCode.BadRequest, 'frame has no command', id);
}

function withoutUndefined(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out;
}

/** Seconds left until `expires` (Unix seconds), at least 1. */
function ttlOf(expires: number): number {
  return Math.max(1, expires - Math.floor(Date.now() / 1000));
}

/** Switchboard's error codes as Centrifuge's numbers (its client treats 100-199 as server errors). */
const CODES: Record<string, number> = {
  internal: 100,
  unauthorized: 101,
  unknown_namespace: 102,
  permission_denied: 103,
  unknown_method: 104,
  already_subscribed: 105,
  limit_exceeded: 106,
  bad_request: 107,
  invalid_json: 107,
  invalid_channel: 107,
  message_too_large: 107,
  unavailable: 108,
  feature_disabled: 108,
  token_expired: 109,
  too_many_requests: 111,
  not_subscribed: 107,
};
