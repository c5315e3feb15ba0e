/**
 * A table of HTTP routes, looked up in order: the first route whose path matches and that has a handler for the
 * method (or a `*` one) answers the request. A handful of
 * routes per server, and only connection set-ups and API calls pass here (never a publication), so a linear scan is
 * plenty; the order is what makes the table easy to read (exact paths before the prefixes that would hide them).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { RouteObserver } from './access-log.js';

/** Answers one request; `url` is parsed once by the table. */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => void;
export type UpgradeRouteHandler = (req: IncomingMessage, socket: Duplex, head: Buffer, url: URL) => void;

export interface Route {
  /** An exact path, or with `prefix` every path that starts with it. */
  readonly path: string;
  readonly prefix?: boolean;
  /** Handlers by method (`GET`, `POST`, ...); `*` answers every method not listed (with its own 405 when it wants one). */
  readonly methods: Readonly<Record<string, RouteHandler>>;
}

export interface UpgradeRoute {
  /** An exact path, or with `prefix` every path that starts with it (Pusher's `/app/{key}`). */
  readonly path: string;
  readonly prefix?: boolean;
  readonly handle: UpgradeRouteHandler;
}

export class RouteTable {
  constructor(
    private readonly routes: readonly Route[],
    private readonly upgrades: readonly UpgradeRoute[] = [],
    /** Sees every request a route answers, with the route's path (the access log, config `accessLog`). */
    private readonly observer?: RouteObserver,
  ) {}

  /** Answers the request when a route matches; false when none does (an embedding app's listeners get it). */
  request(req: IncomingMessage, res: ServerResponse): boolean {
    const url = requestUrl(req);
    const path = url.pathname;
    const method = req.method ?? 'GET';
    for (const r of this.routes) {
      if (r.prefix ? !path.startsWith(r.path) : path !== r.path) continue;
      const handler = r.methods[method] ?? r.methods['*'];
      if (!handler) continue;
      this.observer?.(req, res, r.path);
      handler(req, res, url);
      return true;
    }
    return false;
  }

  /** Hands an upgrade request to its route; false when none matches (the caller closes it, or leaves it to the app). */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = requestUrl(req);
    const path = url.pathname;
    const route = this.upgrades.find((r) => (r.prefix ? path.startsWith(r.path) : r.path === path));
    if (!route) return false;
    route.handle(req, socket, head, url);
    return true;
  }
}

function requestUrl(req: IncomingMessage): URL {
  return new URL(req.url ?? '/', 'http://localhost');
}
