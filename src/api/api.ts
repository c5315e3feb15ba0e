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
import { ErrorCode, TRACEPARENT_PATTERN, httpStatusOf, isValidChannel, ReplyError, withExclude, type ServerPublication } from '../protocol/index.js';
import { looksForwarded } from '../core/client-address.js';
import { isLoopbackAddress } from '../core/loopback.js';
import { answerPreflight, corsHeaders } from '../http/cors.js';
import { sendError, sendJson } from '../http/responses.js';
import { readJsonBody } from './body.js';
import { noteRequestTrace } from '../http/request-trace.js';
import { openApiDocument } from './openapi.js';
import { apiSchemas, describeIssues, issueCode } from './schemas.js';
import { keyedStateRoute } from './keyed-state.js';
import { historyRoute } from './history.js';
import { checkedPresence, validChannel } from './channel-reads.js';
import type { Route, RouteHandler } from '../http/router.js';
import { channelCounts, nodesStats, onlineUsers } from './nodes.js';
import type { RegistryReporter } from '../node/registry-reporter.js';
import type { ApiOperators, Operator } from './operators.js';

/** One endpoint's work: its JSON answer, or a thrown ReplyError (or broker error) that becomes the error answer. */
export type ApiHandler = (req: IncomingMessage, url: URL, ctx: TraceContext | undefined) => Promise<unknown>;

/**
 * The server HTTP API under `/api/` (docs/api.md). JSON in, JSON out, errors as `{"error": {"code", "message"}}`.
 * Its endpoints are listed in the server's route table (src/wiring/routes.ts); this class gives each the same
 * handling: CORS preflight, the API key, a span and metrics per request, errors as JSON.
 */
export class ServerApi {
  private readonly schemas;
  private readonly keyDigest: Buffer | undefined;
  /**
   * What a handler noted of an admin console request for the operator log (the channel, the user, ...). Only those
   * requests get an entry (`handle` adds it): an API key caller's request costs no weak-map entry.
   */
  private readonly notes = new WeakMap<IncomingMessage, Record<string, unknown>>();

  constructor(
    private readonly node: SwitchboardNode,
    private readonly reporter: RegistryReporter,
    /** The admin console's signed-in operators (admin.enabled): their session cookie is accepted instead of the key. */
    private readonly operators?: ApiOperators,
  ) {
    const cfg = node.config;
    this.schemas = apiSchemas({ maxChannelLength: cfg.channel.maxLength, maxKeyLength: cfg.keyed.maxKeyLength });
    this.keyDigest = cfg.apiKey ? digest(cfg.apiKey) : undefined;
  }

  /**
   * The route of one endpoint: `handlers` by method; any other method gets 405 (OPTIONS: the CORS preflight).
   * `open`: no API key needed (the OpenAPI document).
   */
  endpoint(path: string, handlers: Readonly<Record<string, ApiHandler>>, open = false): Route {
    const methods: Record<string, RouteHandler> = {};
    for (const [method, h] of Object.entries(handlers)) methods[method] = (req, res, url) => void this.handle(req, res, url, path, h, open);
    methods['*'] = (req, res, url) => void this.handle(req, res, url, path, undefined, open);
    return { path, methods };
  }

  /**
   * Every path under `prefix` answered by what `resolve` finds for it (by method and path), with the same handling
   * as the native endpoints (CORS, span, metrics, JSON errors) but no API key: the handler checks its own
   * credentials (Pusher's request signatures). `resolve` names the route for labels; nothing found is 404 `unknown`.
   */
  resolvedEndpoints(prefix: string, resolve: (method: string, path: string) => { readonly name: string; readonly handler: ApiHandler } | undefined): Route {
    return {
      path: prefix,
      prefix: true,
      methods: {
        '*': (req, res, url) => {
          const r = resolve(req.method ?? 'GET', url.pathname);
          void this.handle(req, res, url, r?.name ?? 'unknown', r?.handler, true);
        },
      },
    };
  }

  /** Every other path under `prefix` (`/api/`): 404, or the CORS preflight. Counted under the route `unknown`. */
  unknownEndpoints(prefix: string): Route {
    return { path: prefix, prefix: true, methods: { '*': (req, res, url) => void this.handle(req, res, url, 'unknown', undefined, false) } };
  }

  // Only known paths become labels and span names (`routeName`), so a scanner cannot blow up metric cardinality.
  private async handle(req: IncomingMessage, res: ServerResponse, url: URL, routeName: string, route: ApiHandler | undefined, open: boolean): Promise<void> {
    const cors = corsHeaders(req, this.node.config.cors.origins);
    if (req.method === 'OPTIONS') {
      answerPreflight(res, cors, 'GET, POST, OPTIONS', 'content-type, authorization, x-api-key, traceparent, tracestate, last-event-id');
      return;
    }
    const method = req.method ?? 'GET';
    const tel = this.node.telemetry;
    const started = performance.now();
    const span = tel.tracing ? this.requestSpan(req, method, routeName) : undefined;
    const ctx = span ? spanTraceContext(span) : undefined;
    if (ctx) noteRequestTrace(req, ctx);
    let status = 200;
    let operator: Operator | undefined;
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
      if (!open && !this.authorized(req)) {
        const who = this.operators?.identify(req);
        if (!who) {
          req.resume();
          return fail(401, ErrorCode.Unauthorized, this.keyDigest
            ? 'missing or wrong API key: send "Authorization: apikey <key>" or "X-API-Key: <key>"'
            : 'no API key is configured (apiKey), so the server API answers only callers on this machine');
        }
        operator = who.operator;
        this.notes.set(req, {});
        // A cookie rides along with any request the browser makes: a state change must prove it comes from the console.
        if (!SAFE_METHODS.has(method) && !who.csrf) {
          req.resume();
          return fail(403, ErrorCode.PermissionDenied, 'missing or wrong X-CSRF-Token header (an admin console session must send the token of GET /admin/session)');
        }
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
      if (operator && !SAFE_METHODS.has(method)) {
        this.node.logger.info({ operator: operator.name, via: operator.via, session: operator.session, operator_ip: operator.ip, action: `${method} ${routeName}`, status, ...this.notes.get(req) }, 'admin action');
      }
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

  /** Records what the request acts on, for the operator log (admin console requests only read it). */
  private note(req: IncomingMessage, fields: Record<string, unknown>): void {
    if (this.notes.has(req)) this.notes.set(req, fields);
  }

  /** `POST /api/publish`. */
  readonly publish: ApiHandler = async (req, _url, ctx) => {
    const b = await this.body(req, this.schemas.publish);
    this.note(req, { channel: b.channel, event: b.event });
    this.ensureReady();
    const { meta, parent } = this.traceOf(req, b, ctx);
    if (b.op !== undefined && b.key === undefined) throw new ReplyError(ErrorCode.InvalidKey, '"op" needs a "key"');
    const write = b.key === undefined ? undefined : { key: b.key, op: b.op ?? 'upsert' };
    const pub = await this.node.publish(b.channel, b.event, dataJson(b.data ?? null), withExclude(meta, b.exclude), parent, write, b.idempotency_key);
    return position(pub);
  };

  /** `POST /api/broadcast`. */
  readonly broadcast: ApiHandler = async (req, _url, ctx) => {
    const b = await this.body(req, this.schemas.broadcast);
    this.note(req, { channels: b.channels.length, event: b.event });
    this.ensureReady();
    const data = dataJson(b.data);
    const meta = withExclude(undefined, b.exclude);
    const results = await Promise.all(
      b.channels.map((channel) =>
        this.node.publish(channel, b.event, data, meta, this.node.telemetry.tracing ? ctx : undefined).then(position, (err: unknown) => ({
          channel,
          error: err instanceof ReplyError ? err.toJSON() : (brokerReplyError(err)?.toJSON() ?? { code: ErrorCode.Internal, message: 'publish failed' }),
        })),
      ),
    );
    return { results };
  };

  /**
   * `POST /api/send`. Trace fields as for a publish: the body's `traceparent` (else the header's) travels with the
   * message; with tracing on, a `notification.send` span (under the request span, or the body's context) is what
   * the recipients receive instead.
   */
  readonly send: ApiHandler = async (req, _url, ctx) => {
    const b = await this.body(req, this.schemas.send);
    this.note(req, { user: b.user, event: b.event });
    this.ensureReady();
    const { meta, parent } = this.traceOf(req, b, ctx);
    await this.node.sendToUser(b.user, b.event, dataJson(b.data), meta, undefined, parent);
    return {};
  };

  /** A body's trace fields (else the request's headers) as message meta, and the parent of the node's span. */
  private traceOf(req: IncomingMessage, b: { traceparent?: string; tracestate?: string }, ctx: TraceContext | undefined): { meta: { traceparent: string; tracestate?: string } | undefined; parent: TraceContext | undefined } {
    const traceparent = b.traceparent ?? headerString(req.headers.traceparent);
    const tracestate = b.tracestate ?? traceStateHeader(req.headers.tracestate);
    const meta = traceparent ? { traceparent, ...(tracestate ? { tracestate } : {}) } : undefined;
    if (!this.node.telemetry.tracing) return { meta, parent: undefined };
    // The request span (a child of the caller's traceparent header) parents the node's span; a traceparent in the
    // body names the caller's own context instead.
    return { meta, parent: b.traceparent ? remoteTraceContext(b.traceparent, b.tracestate) : ctx };
  }

  /** `POST /api/disconnect`. */
  readonly disconnect: ApiHandler = async (req) => {
    const b = await this.body(req, this.schemas.disconnect);
    this.note(req, { user: b.user, client: b.client, code: b.code });
    this.ensureReady();
    if (b.client === undefined) await this.node.disconnectUser(b.user, b.code, b.reason);
    else {
      // Only a connection of the named user: a client id alone must not reach someone else's connection.
      const { nodes } = await this.node.userConnections(b.user);
      if (!nodes.some((n) => n.connections.some((c) => c.client === b.client))) throw new ReplyError(ErrorCode.NotFound, `user "${b.user}" has no connection "${b.client}"`);
      await this.node.disconnectClient(b.client, b.code, b.reason);
    }
    return {};
  };

  /** `GET /api/connections`. */
  readonly connections: ApiHandler = async (_req, url) => {
    const user = url.searchParams.get('user');
    if (!user || user.length > 128) throw new ReplyError(ErrorCode.BadRequest, 'query parameter "user" is required (1-128 characters)');
    const { nodes, missing } = await this.node.userConnections(user);
    return { user, connections: nodes.flatMap((n) => n.connections.map((c) => ({ node: n.node, ...c }))), missing };
  };

  private channelParam(url: URL): string {
    const channel = url.searchParams.get('channel');
    if (channel === null) throw new ReplyError(ErrorCode.BadRequest, 'query parameter "channel" is required');
    return validChannel(this.node, channel);
  }

  /** `GET /api/presence`. */
  readonly presence: ApiHandler = async (_req, url, ctx) => {
    const channel = this.channelParam(url);
    return { channel, members: await checkedPresence(this.node, channel, ctx) };
  };

  /** `GET /api/history`. */
  readonly history: ApiHandler = (_req, url, ctx) => historyRoute(this.node, this.channelParam(url), url, ctx);

  /** `GET /api/state`. */
  readonly state: ApiHandler = (_req, url, ctx) => keyedStateRoute(this.node, this.channelParam(url), url, ctx);

  /** `GET /api/openapi.json`. */
  readonly openApi: ApiHandler = async () => openApiDocument(this.node.config);

  /** `GET /api/online`. */
  readonly online: ApiHandler = () => onlineUsers(this.node, this.reporter);

  /** `GET /api/channels`. */
  readonly channels: ApiHandler = () => channelCounts(this.reporter);

  /** `GET /api/stats`. */
  readonly stats: ApiHandler = () => nodesStats(this.node, this.reporter);
}

const SAFE_METHODS = new Set(['GET', 'HEAD']);

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
