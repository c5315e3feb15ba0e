import { timingSafeEqual, createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SpanKind, type Span } from '@opentelemetry/api';
import { brokerReplyError } from '../broker/broker.js';
import { inc } from '../observability/counters.js';
import { errorTypeOf, markError } from '../observability/spans.js';
import { extractContext } from '../observability/tracing.js';
import { remoteTraceContext, spanTraceContext } from '../observability/trace-context.js';
import type { TraceContext } from '../core/trace-context.js';
import type { SwitchboardNode } from '../node.js';
import { ErrorCode, TRACEPARENT_PATTERN, httpStatusOf, isValidChannel, ReplyError, type ServerPublication } from '../protocol/index.js';
import { looksForwarded } from '../core/client-address.js';
import { isLoopbackAddress } from '../core/loopback.js';
import { answerPreflight, corsHeaders } from '../http/cors.js';
import { sendError, sendJson } from '../http/responses.js';
import { readJsonBody } from './body.js';
import { openApiDocument } from './openapi.js';
import { apiSchemas, describeIssues, issueCode } from './schemas.js';
import { keyedStateRoute } from './keyed-state.js';
import { historyRoute } from './history.js';

type Handler = (req: IncomingMessage, url: URL, ctx: TraceContext | undefined) => Promise<unknown>;

/** The server HTTP API under `/api/` (docs/api.md). JSON in, JSON out, errors as `{"error": {"code", "message"}}`. */
export class ServerApi {
  private readonly routes: Partial<Record<string, Handler>>;
  private readonly schemas;
  private readonly keyDigest: Buffer | undefined;

  constructor(private readonly node: SwitchboardNode) {
    const cfg = node.config;
    this.schemas = apiSchemas({ maxChannelLength: cfg.channel.maxLength, maxKeyLength: cfg.keyed.maxKeyLength });
    this.keyDigest = cfg.apiKey ? digest(cfg.apiKey) : undefined;
    this.routes = {
      'POST /api/publish': (req, _url, ctx) => this.publish(req, ctx),
      'POST /api/broadcast': (req, _url, ctx) => this.broadcast(req, ctx),
      'POST /api/send': (req) => this.send(req),
      'POST /api/disconnect': (req) => this.disconnect(req),
      'GET /api/presence': (_req, url, ctx) => this.presence(url, ctx),
      'GET /api/history': (_req, url, ctx) => historyRoute(this.node, this.channelParam(url), url, ctx),
      'GET /api/state': (_req, url, ctx) => keyedStateRoute(this.node, this.channelParam(url), url, ctx),
      'GET /api/channels': () => this.channels(),
      'GET /api/online': () => this.online(),
      'GET /api/stats': () => this.stats(),
      'GET /api/openapi.json': async () => openApiDocument(this.node.config),
    };
  }

  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const cors = corsHeaders(req, this.node.config.cors.origins);
    if (req.method === 'OPTIONS') {
      answerPreflight(res, cors, 'GET, POST, OPTIONS', 'content-type, authorization, x-api-key, traceparent, tracestate, last-event-id');
      return;
    }
    const method = req.method ?? 'GET';
    const route = this.routes[`${method} ${url.pathname}`];
    // Only known paths become labels and span names, so a scanner cannot blow up metric cardinality.
    const routeName = route ? url.pathname : Object.keys(this.routes).some((k) => k.endsWith(' ' + url.pathname)) ? url.pathname : 'unknown';
    const tel = this.node.telemetry;
    const started = performance.now();
    const span = tel.tracing ? this.requestSpan(req, method, routeName) : undefined;
    const ctx = span ? spanTraceContext(span) : undefined;
    let status = 200;
    const fail = (st: number, code: string, message: string) => {
      status = st;
      if (span) markError(span, errorTypeOf(code), code);
      sendError(res, st, code, message, cors);
    };
    try {
      if (!route) {
        if (routeName !== 'unknown') return fail(405, ErrorCode.MethodNotAllowed, `${method} is not allowed on ${url.pathname}`);
        return fail(404, ErrorCode.NotFound, `no API endpoint ${url.pathname}; see /api/openapi.json`);
      }
      if (url.pathname !== '/api/openapi.json' && !this.authorized(req)) {
        req.resume();
        return fail(401, ErrorCode.Unauthorized, this.keyDigest
          ? 'missing or wrong API key: send "Authorization: apikey <key>" or "X-API-Key: <key>"'
          : 'no API key is configured (apiKey), so the server API answers only callers on this machine');
      }
      const body = await route(req, url, ctx);
      sendJson(res, 200, body, cors);
    } catch (err) {
      if (err instanceof ReplyError) return fail(httpStatusOf(err.code, 400), err.code, err.message);
      const broker = brokerReplyError(err);
      if (broker) return fail(httpStatusOf(broker.code, 503), broker.code, broker.message);
      this.node.logger.error({ err, route: routeName }, 'api request failed');
      fail(500, ErrorCode.Internal, 'internal error');
    } finally {
      inc(tel.counters.apiRequests, `${method} ${routeName}|${status}`);
      tel.histograms.apiDuration.record((performance.now() - started) / 1000, {
        'http.request.method': method,
        'http.route': routeName,
        'http.response.status_code': status,
      });
      if (span) {
        span.setAttribute('http.response.status_code', status);
        span.end();
      }
    }
  }

  /** A server span per API request, continuing the caller's trace from its `traceparent` header. */
  private requestSpan(req: IncomingMessage, method: string, route: string): Span {
    return this.node.telemetry.tracer.startSpan(
      `${method} ${route}`,
      {
        kind: SpanKind.SERVER,
        attributes: { 'http.request.method': method, 'http.route': route, 'client.address': this.node.clientAddress.of(req) },
      },
      extractContext(headerString(req.headers.traceparent), traceStateHeader(req.headers.tracestate)),
    );
  }

  /**
   * The API key when one is configured (constant-time comparison of digests, so neither the content nor the length
   * of the key leaks through timing); without one, only callers on this machine (loopback) may use the API.
   * `Authorization: Bearer <key>` is accepted too, for scrapers that can only send bearer credentials (`/metrics`).
   */
  authorized(req: IncomingMessage): boolean {
    if (!this.keyDigest) return this.localCaller(req);
    const auth = req.headers.authorization;
    let key = typeof req.headers['x-api-key'] === 'string' ? req.headers['x-api-key'] : undefined;
    const lower = auth?.toLowerCase();
    if (lower?.startsWith('apikey ')) key = auth!.slice(7).trim();
    else if (lower?.startsWith('bearer ')) key = auth!.slice(7).trim();
    return key !== undefined && timingSafeEqual(digest(key), this.keyDigest);
  }

  /**
   * A caller on this machine: a loopback peer whose request was not forwarded. A reverse proxy on the same host
   * connects over loopback too, so a request carrying forwarding headers (or coming through a trusted proxy, whose
   * client is then the forwarded address) is judged by the client's address, not the proxy's.
   */
  private localCaller(req: IncomingMessage): boolean {
    const ca = this.node.clientAddress;
    if (ca.viaTrustedProxy(req)) return isLoopbackAddress(ca.of(req));
    return isLoopbackAddress(ca.peer(req)) && !looksForwarded(req);
  }

  private async body<T>(req: IncomingMessage, schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: import('zod').ZodError } }): Promise<T> {
    const raw = await readJsonBody(req, this.node.config.api.maxBodySize);
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ReplyError(ErrorCode.BadRequest, 'request body must be a JSON object');
    const r = schema.safeParse(raw);
    if (!r.success) throw new ReplyError(issueCode(r.error), describeIssues(r.error));
    return r.data;
  }

  private ensureReady(): void {
    if (!this.node.isReady()) throw new ReplyError(ErrorCode.Unavailable, 'server is not ready (starting, draining or broker unavailable)');
  }

  private async publish(req: IncomingMessage, ctx: TraceContext | undefined): Promise<unknown> {
    const b = await this.body(req, this.schemas.publish);
    this.ensureReady();
    const traceparent = b.traceparent ?? headerString(req.headers.traceparent);
    const tracestate = b.tracestate ?? traceStateHeader(req.headers.tracestate);
    const meta = traceparent ? { traceparent, ...(tracestate ? { tracestate } : {}) } : undefined;
    const tracing = this.node.telemetry.tracing;
    // With tracing on, the request span (a child of the caller's traceparent header) parents the publish span; a
    // traceparent in the body names the publisher's own context instead.
    const parent = tracing && b.traceparent ? remoteTraceContext(b.traceparent, b.tracestate) : ctx;
    if (b.op !== undefined && b.key === undefined) throw new ReplyError(ErrorCode.InvalidKey, '"op" needs a "key"');
    const write = b.key === undefined ? undefined : { key: b.key, op: b.op ?? 'upsert' };
    const pub = await this.node.publish(b.channel, b.event, dataJson(b.data ?? null), meta, tracing ? parent : undefined, write);
    return position(pub);
  }

  private async broadcast(req: IncomingMessage, ctx: TraceContext | undefined): Promise<unknown> {
    const b = await this.body(req, this.schemas.broadcast);
    this.ensureReady();
    const data = dataJson(b.data);
    const results = await Promise.all(
      b.channels.map((channel) =>
        this.node.publish(channel, b.event, data, undefined, this.node.telemetry.tracing ? ctx : undefined).then(position, (err: unknown) => ({
          channel,
          error: err instanceof ReplyError ? err.toJSON() : (brokerReplyError(err)?.toJSON() ?? { code: ErrorCode.Internal, message: 'publish failed' }),
        })),
      ),
    );
    return { results };
  }

  private async send(req: IncomingMessage): Promise<unknown> {
    const b = await this.body(req, this.schemas.send);
    this.ensureReady();
    await this.node.sendToUser(b.user, b.event, dataJson(b.data));
    return {};
  }

  private async disconnect(req: IncomingMessage): Promise<unknown> {
    const b = await this.body(req, this.schemas.disconnect);
    this.ensureReady();
    await this.node.disconnectUser(b.user, b.code, b.reason);
    return {};
  }

  private channelParam(url: URL): string {
    const channel = url.searchParams.get('channel');
    if (channel === null) throw new ReplyError(ErrorCode.BadRequest, 'query parameter "channel" is required');
    if (!isValidChannel(channel, this.node.config.channel.maxLength)) throw new ReplyError(ErrorCode.InvalidChannel, 'invalid channel name');
    return channel;
  }

  private async presence(url: URL, ctx: TraceContext | undefined): Promise<unknown> {
    const channel = this.channelParam(url);
    const rules = this.node.namespaces.rules(channel);
    if (!rules) throw new ReplyError(ErrorCode.UnknownNamespace, `channel "${channel}" is in a namespace this server does not declare (namespaces)`);
    if (!rules.presence) throw new ReplyError(ErrorCode.FeatureDisabled, `presence is turned off for channel "${channel}"`);
    return { channel, members: await this.node.presence(channel, ctx) };
  }

  /**
   * Users online: across every live node when the broker keeps a node registry (Redis; nodes report every 2 s),
   * else this node's.
   */
  private async online(): Promise<unknown> {
    const registry = this.node.registry;
    const reports = registry ? await registry.nodes() : [this.node.report()];
    const users = new Map<string, number>();
    // This node's own view is current; the others' are their latest reports.
    for (const r of reports) {
      if (r.id === this.node.id) continue;
      for (const [u, n] of Object.entries(r.users)) users.set(u, (users.get(u) ?? 0) + n);
    }
    for (const [u, n] of Object.entries(this.node.report().users)) users.set(u, (users.get(u) ?? 0) + n);
    return {
      count: users.size,
      nodes: Math.max(1, reports.length),
      users: [...users].map(([user, connections]) => ({ user, connections })),
    };
  }

  /**
   * Channels with subscribers on any live node (from the node reports, every 2 s; this node's own view is current),
   * subscriber counts summed over nodes. Each node lists at most `redis.reportChannels` channels: `truncated` names
   * the nodes that had more, so the list (and the counts) may miss their quieter channels.
   */
  private async channels(): Promise<unknown> {
    const registry = this.node.registry;
    const own = this.node.report();
    const reports = registry ? (await registry.nodes()).filter((r) => r.id !== own.id) : [];
    reports.push(own);
    const counts = new Map<string, number>();
    for (const r of reports) for (const [c, n] of Object.entries(r.channels ?? {})) counts.set(c, (counts.get(c) ?? 0) + n);
    return {
      channels: [...counts].map(([channel, subscribers]) => ({ channel, subscribers })),
      nodes: reports.length,
      truncated: reports.filter((r) => r.channelsTruncated).map((r) => r.id),
    };
  }

  /** This node's stats, plus every live node's latest when the broker keeps a node registry. */
  private async stats(): Promise<unknown> {
    const local = this.node.stats();
    const registry = this.node.registry;
    if (!registry) return local;
    const reports = await registry.nodes();
    return { ...local, nodes: reports.map((r) => (r.id === this.node.id ? local : r.stats)) };
  }
}

function position(p: ServerPublication): { channel: string; epoch: string; offset: number } {
  return { channel: p.channel, epoch: p.epoch, offset: p.offset };
}

/** JSON text of the body's data. Data nested a few thousand levels deep parses, but overflows JSON.stringify's stack. */
function dataJson(data: unknown): string {
  try {
    return JSON.stringify(data);
  } catch {
    throw new ReplyError(ErrorCode.BadRequest, 'data: nested too deeply');
  }
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function headerString(v: string | string[] | undefined): string | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  return s && TRACEPARENT_PATTERN.test(s) ? s : undefined;
}

function traceStateHeader(v: string | string[] | undefined): string | undefined {
  const s = Array.isArray(v) ? v.join(',') : v;
  return s && s.length <= 512 ? s : undefined;
}
