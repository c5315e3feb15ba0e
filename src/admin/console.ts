/**
 * The admin console at `/admin` (docs/admin.md): its page and assets (built by scripts/build-web.mjs into
 * dist/web/admin, served from memory under the same strict CSP as the demo), sign-in and sign-out, the session the
 * page reads (`GET /admin/session`: operator and CSRF token), the stats stream and channel tails. Every action the
 * console takes goes to the server API (`/api/...`), which accepts the session cookie in place of the API key through
 * `identify` (src/api/operators.ts) and logs it with the operator.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { isLoopbackAddress as isLoopback } from '../core/loopback.js';
import { readJsonBody } from '../api/body.js';
import { validChannel } from '../api/channel-reads.js';
import type { ApiOperators, Operator } from '../api/operators.js';
import type { Config } from '../config/index.js';
import { looksForwarded, type ClientAddress } from '../core/client-address.js';
import type { RegistryReporter } from '../node/registry-reporter.js';
import type { Logger } from '../observability/logger.js';
import { ReplyError, unknownNamespace } from '../protocol/index.js';
import { sendError, sendJson } from '../http/responses.js';
import { SECURITY_HEADERS, StaticFiles } from '../http/static.js';
import { AdminSessions, csrfMatches } from './sessions.js';
import { SignInLimit } from './sign-in-limit.js';
import { StatsStream } from './stats-stream.js';
import { ChannelTail, type TailHost } from './tail.js';

/** dist/web/admin, beside dist/admin (compiled) or src/admin (tsx). */
export const ADMIN_WEB_DIR = fileURLToPath(new URL('../../dist/web/admin/', import.meta.url));
export const ADMIN_PREFIX = '/admin/';
const COOKIE = 'sb_admin';
/** Most bytes of a sign-in body. */
const SIGN_IN_MAX_BYTES = 4096;
const NAME = /^[A-Za-z0-9_.@\- ]{1,64}$/;

export interface AdminHost extends TailHost {
  readonly config: Config;
  readonly logger: Logger;
  readonly clientAddress: ClientAddress;
  readonly namespaces: { rules(channel: string): unknown };
}

export class AdminConsole implements ApiOperators {
  private readonly files: StaticFiles | undefined;
  private readonly sessions: AdminSessions;
  private readonly limit: SignInLimit;
  private readonly stats: StatsStream;
  private readonly tails = new Set<ChannelTail>();
  private readonly keyDigest: Buffer | undefined;
  private readonly secretDigest: Buffer | undefined;

  constructor(
    private readonly host: AdminHost,
    reporter: Pick<RegistryReporter, 'registry' | 'report'>,
    opts: { version: string; dir?: string } = { version: '' },
  ) {
    const a = host.config.admin;
    const files = opts.dir ? StaticFiles.load(opts.dir) : StaticFiles.embedded('web/admin/') ?? StaticFiles.load(ADMIN_WEB_DIR);
    this.files = files?.get('index.html') ? files : undefined;
    if (!this.files) host.logger.warn({ dir: opts.dir ?? ADMIN_WEB_DIR }, 'admin console not built (run "npm run build"); /admin answers 503');
    this.sessions = new AdminSessions(a.sessionTtl, a.maxSessions);
    this.limit = new SignInLimit(a.signInAttempts, a.signInAddresses);
    this.stats = new StatsStream(reporter, a.statsInterval);
    this.keyDigest = host.config.apiKey ? digest(host.config.apiKey) : undefined;
    this.secretDigest = a.secret ? digest(a.secret) : undefined;
  }

  /** Without a configured credential (no apiKey, no admin.secret), loopback callers sign in with no secret. */
  private get open(): boolean {
    return !this.keyDigest && !this.secretDigest;
  }

  // --- ApiOperators ---------------------------------------------------------------------------------------------

  identify(req: IncomingMessage): { operator: Operator; csrf: boolean } | undefined {
    const s = this.sessions.get(cookieOf(req));
    return s ? { operator: s.operator, csrf: csrfMatches(s, req.headers['x-csrf-token']) } : undefined;
  }

  // --- Routes -------------------------------------------------------------------------------------------------

  /** Every request under `/admin` (the route table sends them all here). */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const path = url.pathname;
    const method = req.method ?? 'GET';
    if (path === '/admin/sign-in') return method === 'POST' ? void this.signIn(req, res) : notAllowed(res, path, 'POST');
    if (path === '/admin/sign-out') return method === 'POST' ? this.signOut(req, res) : notAllowed(res, path, 'POST');
    if (method !== 'GET' && method !== 'HEAD') return notAllowed(res, path, 'GET, HEAD');
    if (path === '/admin/session') return this.session(req, res);
    if (path === '/admin/stream') return this.withOperator(req, res, () => this.openStats(res));
    if (path === '/admin/tail') return this.withOperator(req, res, (op) => this.openTail(res, url, op));
    this.asset(req, res, path);
  }

  /** Ends every stream (shutdown). */
  close(): void {
    this.stats.close();
    for (const t of [...this.tails]) t.end();
  }

  private asset(req: IncomingMessage, res: ServerResponse, path: string): void {
    if (!this.files) return sendError(res, 503, 'unavailable', 'the admin console is not built (run "npm run build")', SECURITY_HEADERS);
    // The page at /admin and /admin/; assets by their exact built name only (no path joins).
    const name = path === '/admin' || path === ADMIN_PREFIX ? 'index.html' : path.slice(ADMIN_PREFIX.length);
    const file = this.files.get(name);
    if (!file) sendError(res, 404, 'not_found', `no admin file ${path}`, SECURITY_HEADERS);
    else this.files.send(req, res, file);
  }

  private session(req: IncomingMessage, res: ServerResponse): void {
    const s = this.sessions.get(cookieOf(req));
    const headers = { ...SECURITY_HEADERS, 'cache-control': 'no-store' };
    // What the sign-in form needs: whether a secret is asked for at all.
    const signIn = { secret: !this.open };
    if (!s) return sendJson(res, 401, { error: { code: 'unauthorized', message: 'not signed in' }, signIn }, headers);
    sendJson(res, 200, { operator: { name: s.operator.name, via: s.operator.via }, csrf: s.csrf, expiresAt: s.expiresAt, signIn }, headers);
  }

  private async signIn(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const ip = this.host.clientAddress.of(req);
    const headers = { ...SECURITY_HEADERS, 'cache-control': 'no-store' };
    if (!this.limit.allowed(ip)) {
      req.resume();
      this.host.logger.warn({ operator_ip: ip }, 'admin sign-in refused: too many failed attempts');
      return sendError(res, 429, 'limit_exceeded', `too many failed sign-ins from this address; at most ${this.host.config.admin.signInAttempts} a minute (admin.signInAttempts)`,
        { ...headers, 'retry-after': String(this.limit.retryAfterSeconds()) });
    }
    // JSON only: a cross-site HTML form cannot send it without a CORS preflight (login CSRF).
    if (!(req.headers['content-type'] ?? '').toLowerCase().startsWith('application/json')) {
      req.resume();
      return sendError(res, 415, 'bad_request', 'send the sign-in as application/json: {"name", "secret"}', headers);
    }
    let body: unknown;
    try {
      body = await readJsonBody(req, SIGN_IN_MAX_BYTES);
    } catch (err) {
      return sendError(res, 400, 'bad_request', err instanceof ReplyError ? err.message : 'unreadable body', headers);
    }
    const b = (typeof body === 'object' && body !== null ? body : {}) as { name?: unknown; secret?: unknown };
    const name = typeof b.name === 'string' ? b.name.trim() : '';
    if (!NAME.test(name)) return sendError(res, 400, 'bad_request', '"name": 1-64 letters, digits, spaces and _.@-', headers);
    const via = this.check(req, typeof b.secret === 'string' ? b.secret : '');
    if (!via) {
      this.limit.failed(ip);
      this.host.logger.warn({ operator: name, operator_ip: ip }, 'admin sign-in failed');
      return sendError(res, 401, 'unauthorized', this.open ? 'the admin console accepts callers on this machine only (set admin.secret or apiKey to sign in from elsewhere)' : 'wrong secret (the API key or admin.secret)', headers);
    }
    const { token, session } = this.sessions.create({ name, via, ip });
    this.host.logger.info({ operator: name, via, session: session.operator.session, operator_ip: ip }, 'admin sign-in');
    sendJson(res, 200, { operator: { name, via }, csrf: session.csrf, expiresAt: session.expiresAt }, {
      ...headers,
      'set-cookie': this.cookie(req, token, Math.floor(this.host.config.admin.sessionTtl / 1000)),
    });
  }

  /** What the secret signs in with, or undefined. Both digests are compared, so timing tells nothing of which. */
  private check(req: IncomingMessage, secret: string): Operator['via'] | undefined {
    if (this.open) return this.localCaller(req) ? 'local' : undefined;
    const d = digest(secret);
    const key = this.keyDigest ? timingSafeEqual(d, this.keyDigest) : false;
    const adminSecret = this.secretDigest ? timingSafeEqual(d, this.secretDigest) : false;
    return key ? 'apikey' : adminSecret ? 'secret' : undefined;
  }

  private localCaller(req: IncomingMessage): boolean {
    const ca = this.host.clientAddress;
    if (ca.viaTrustedProxy(req)) return isLoopback(ca.of(req));
    return isLoopback(ca.peer(req)) && !looksForwarded(req);
  }

  private signOut(req: IncomingMessage, res: ServerResponse): void {
    req.resume();
    const token = cookieOf(req);
    const s = this.sessions.get(token);
    if (s && !csrfMatches(s, req.headers['x-csrf-token'])) return sendError(res, 403, 'permission_denied', 'missing or wrong X-CSRF-Token header', SECURITY_HEADERS);
    if (s) this.host.logger.info({ operator: s.operator.name, session: s.operator.session }, 'admin sign-out');
    this.sessions.delete(token);
    sendJson(res, 200, {}, { ...SECURITY_HEADERS, 'set-cookie': this.cookie(req, '', 0) });
  }

  /** HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it), Secure behind TLS. */
  private cookie(req: IncomingMessage, value: string, maxAgeSeconds: number): string {
    const tls = (req.socket as Partial<TLSSocket>).encrypted === true || this.forwardedHttps(req);
    return `${COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${tls ? '; Secure' : ''}`;
  }

  /** TLS ended at a trusted proxy (`proxy.trusted`) that says so. */
  private forwardedHttps(req: IncomingMessage): boolean {
    return this.host.clientAddress.viaTrustedProxy(req) && String(req.headers['x-forwarded-proto'] ?? '').split(',')[0]?.trim() === 'https';
  }

  private withOperator(req: IncomingMessage, res: ServerResponse, then: (op: Operator) => void): void {
    const s = this.sessions.get(cookieOf(req));
    if (!s) return sendError(res, 401, 'unauthorized', 'sign in to the admin console first (POST /admin/sign-in)', SECURITY_HEADERS);
    if (this.stats.size + this.tails.size >= this.host.config.admin.maxStreams) {
      return sendError(res, 429, 'limit_exceeded', `at most ${this.host.config.admin.maxStreams} admin streams at once (admin.maxStreams)`, SECURITY_HEADERS);
    }
    then(s.operator);
  }

  private openStats(res: ServerResponse): void {
    this.stats.open(res);
  }

  private openTail(res: ServerResponse, url: URL, op: Operator): void {
    let channel: string;
    try {
      channel = validChannel(this.host, url.searchParams.get('channel') ?? '');
      if (!this.host.namespaces.rules(channel)) throw unknownNamespace(channel);
    } catch (err) {
      return sendError(res, 400, err instanceof ReplyError ? err.code : 'bad_request', err instanceof Error ? err.message : 'bad channel', SECURITY_HEADERS);
    }
    const tail = new ChannelTail(this.host, channel, `admin:${op.name}`, res, () => this.tails.delete(tail));
    this.tails.add(tail);
    this.host.logger.info({ operator: op.name, session: op.session, channel }, 'admin tail');
    tail.start().catch((err: unknown) => {
      this.host.logger.warn({ err, channel }, 'admin tail: broker subscribe failed');
      tail.end();
    });
  }
}

function notAllowed(res: ServerResponse, path: string, allow: string): void {
  sendError(res, 405, 'method_not_allowed', `use ${allow} for ${path}`, { ...SECURITY_HEADERS, allow });
}

/** The admin cookie's value from the Cookie header. */
function cookieOf(req: IncomingMessage): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === COOKIE) return part.slice(i + 1).trim() || undefined;
  }
  return undefined;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
