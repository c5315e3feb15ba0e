/**
 * The subscribe, publish and rpc proxies (docs/proxy.md): what the session's permission checks ask the application's
 * backend, with the connection's identity in the body. Which URL is asked comes from the channel's namespace
 * (ChannelRules.proxy); subscribe and rpc answers are reused while the backend's `cache_ttl` allows.
 */
import type { TraceContext } from '../../core/trace-context.js';
import { ErrorCode, ReplyError } from '../../protocol/index.js';
import type { Identity } from '../identity.js';
import type { ProxyAnswer } from './answer.js';
import type { ProxyBackend, ProxyKind } from './backend.js';
import { AnswerCache } from './cache.js';

/** The connection a proxy call is made for (a Session). */
export interface ProxyCaller {
  /** The connection id. */
  readonly id: string;
  readonly identity: Identity;
  /** `websocket` or `sse`. */
  readonly transport: string;
  readonly conn: { readonly ip: string };
}

/** What every call's body says about the connection. */
function who(c: ProxyCaller): Record<string, unknown> {
  const i = c.identity;
  return {
    client: c.id,
    transport: c.transport,
    ip: c.conn.ip,
    user: i.userId,
    ...(i.anonymous ? { anonymous: true } : {}),
    ...(i.info !== undefined ? { info: i.info } : {}),
  };
}

/** JSON text of a value from the backend, or `backend_invalid` (e.g. nested too deeply to serialize). */
function jsonOf(v: unknown, kind: string): string {
  try {
    return JSON.stringify(v) ?? 'null';
  } catch {
    throw new ReplyError(ErrorCode.BackendInvalid, `the ${kind} proxy's data cannot be serialized`);
  }
}

export class ChannelProxies {
  private readonly cache: AnswerCache;

  constructor(
    private readonly backend: ProxyBackend,
    cacheMaxBytes: number,
  ) {
    this.cache = new AnswerCache(cacheMaxBytes);
  }

  /** Cached answers: entries and bytes (metrics, tests). */
  get cached(): { entries: number; bytes: number } {
    return { entries: this.cache.size, bytes: this.cache.bytes };
  }

  /**
   * Resolves when the backend allows `caller` to subscribe to `channel`, to its result's `data` for the client
   * (undefined when none); throws its refusal or the call's failure. The client's own `data` (JSON text) is sent
   * along when it gave some, and is part of what a cached answer is reused for.
   */
  async subscribe(url: string, caller: ProxyCaller, channel: string, trace?: TraceContext, data?: string): Promise<unknown> {
    const key = `s\u0000${url}\u0000${caller.identity.userId}\u0000${channel}${data === undefined ? '' : `\u0000${data}`}`;
    const body = { ...who(caller), channel, ...(data === undefined ? {} : { data: JSON.parse(data) as unknown }) };
    const answer = await this.cachedCall('subscribe', url, key, body, trace);
    if (!answer.ok) throw answer.error;
    return answer.result.data;
  }

  /**
   * Resolves when the backend allows the publication: the data to publish, the backend's replacement when its
   * result has `data`, else `data` itself (JSON text). Never cached: each publication is a new decision.
   */
  async publish(url: string, caller: ProxyCaller, channel: string, event: string, data: string, trace?: TraceContext): Promise<string> {
    const answer = await this.backend.call('publish', url, { ...who(caller), channel, event, data: JSON.parse(data) as unknown }, trace);
    if (!answer.ok) throw answer.error;
    return 'data' in answer.result ? jsonOf(answer.result.data, 'publish') : data;
  }

  /** The backend's reply to an rpc `method` with `data` (JSON text): its result's `data` as JSON text (`null` when absent). */
  async rpc(url: string, caller: ProxyCaller, method: string, data: string, trace?: TraceContext): Promise<string> {
    const key = `r\u0000${url}\u0000${caller.identity.userId}\u0000${method}\u0000${data}`;
    const answer = await this.cachedCall('rpc', url, key, { ...who(caller), method, data: JSON.parse(data) as unknown }, trace);
    if (!answer.ok) throw answer.error;
    return 'data' in answer.result ? jsonOf(answer.result.data, 'rpc') : 'null';
  }

  private async cachedCall(kind: ProxyKind, url: string, key: string, body: unknown, trace: TraceContext | undefined): Promise<ProxyAnswer> {
    const hit = this.cache.get(key);
    if (hit) return hit;
    const answer = await this.backend.call(kind, url, body, trace);
    this.cache.set(key, answer);
    return answer;
  }
}
