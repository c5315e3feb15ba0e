/**
 * Every HTTP path Switchboard answers, in one table (docs/api.md, docs/operations.md). Looked up in order: exact
 * paths, then prefixes. On a server Switchboard created itself, the demo page, the `/` index and a JSON 404 follow;
 * embedded in an app's server (options.server), the table ends after Switchboard's own paths and every other request
 * goes to the app (src/wiring/attach.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AdminConsole } from '../admin/console.js';
import type { ServerApi } from '../api/api.js';
import type { Config } from '../config/index.js';
import type { DemoPage } from '../demo/page.js';
import type { SwitchboardNode } from '../node.js';
import { sendError, sendJson } from '../http/responses.js';
import type { SdkBundle } from '../transport/sdk-bundle.js';
import type { SseTransport } from '../transport/sse.js';
import type { WebSocketTransport } from '../transport/websocket.js';
import { RouteTable, type Route, type RouteHandler, type UpgradeRoute } from '../http/router.js';
import type { RouteObserver } from '../http/access-log.js';
import type { PusherApi } from '../api/pusher-api.js';
import type { WsEndpoint } from '../transport/ws-endpoint.js';
import { PUSHER_WS_PREFIX } from '../transport/pusher-endpoint.js';
import { CENTRIFUGE_PATH } from '../transport/centrifuge-endpoint.js';

export interface RouteTargets {
  readonly config: Config;
  /** Switchboard created the server: it also answers `/`, the demo page and a 404 for unknown paths. */
  readonly ownServer: boolean;
  readonly version: string;
  readonly node: Pick<SwitchboardNode, 'isReady' | 'state'>;
  readonly api: ServerApi;
  readonly sse: Pick<SseTransport, 'handle'>;
  readonly ws: Pick<WebSocketTransport, 'handleUpgrade'>;
  /** Pusher Channels compatibility (`pusher.appId` or `pusher.apps` set): its HTTP API and its WebSocket endpoint. */
  readonly pusher?: { readonly api: PusherApi; readonly endpoint: WsEndpoint };
  /** The Centrifuge client protocol endpoint (`/connection/websocket`, docs/compat.md; `compat.centrifuge`). */
  readonly centrifuge?: WsEndpoint;
  /** The Prometheus exporter (`metrics.enabled`). */
  readonly metrics?: (req: IncomingMessage, res: ServerResponse) => void;
  /** The browser SDK bundle (`sdk.serve`, when built). */
  readonly sdkBundle?: Pick<SdkBundle, 'handle'>;
  /** The demo page (`demo.enabled`, own server only). */
  readonly demoPage?: Pick<DemoPage, 'handle' | 'built'>;
  /** Sees every request a route answers (the access log, config `accessLog`). */
  readonly observer?: RouteObserver;
  /** The admin console (`admin.enabled`, or development mode on loopback): `/admin` and everything under it. */
  readonly admin?: Pick<AdminConsole, 'handle'>;
}

export function switchboardRoutes(t: RouteTargets): RouteTable {
  const { config: c, api, node } = t;
  const any = (path: string, handle: RouteHandler): Route => ({ path, methods: { '*': handle } });
  const routes: Route[] = [
    any(c.sse.path, (req, res, url) => t.sse.handle(req, res, url)),
  ];
  const metrics = t.metrics;
  if (metrics) {
    // Operational data: the same rule as the server API (its key, or loopback callers when there is none).
    routes.push(any(c.metrics.path, (req, res) => {
      if (!c.metrics.public && !api.authorized(req)) sendError(res, 401, 'unauthorized', 'metrics need the API key ("Authorization: Bearer <key>" or "X-API-Key: <key>")');
      else metrics(req, res);
    }));
  }
  routes.push(
    api.endpoint('/api/publish', { POST: api.publish }),
    api.endpoint('/api/broadcast', { POST: api.broadcast }),
    api.endpoint('/api/send', { POST: api.send }),
    api.endpoint('/api/disconnect', { POST: api.disconnect }),
    api.endpoint('/api/connections', { GET: api.connections }),
    api.endpoint('/api/presence', { GET: api.presence }),
    api.endpoint('/api/history', { GET: api.history }),
    api.endpoint('/api/state', { GET: api.state }),
    api.endpoint('/api/channels', { GET: api.channels }),
    api.endpoint('/api/online', { GET: api.online }),
    api.endpoint('/api/stats', { GET: api.stats }),
    api.endpoint('/api/openapi.json', { GET: api.openApi }, true),
    api.unknownEndpoints('/api/'),
  );
  const admin = t.admin;
  if (admin) {
    const page: RouteHandler = (req, res, url) => admin.handle(req, res, url);
    routes.push(any('/admin', page), { path: '/admin/', prefix: true, methods: { '*': page } });
  }
  const pusher = t.pusher;
  // Pusher's HTTP API (`/apps/{app_id}/events`, `/batch_events`, channel and user info), signed per request.
  if (pusher) routes.push(api.resolvedEndpoints('/apps/', (method, path) => pusher.api.resolve(method, path)));
  const sdk = t.sdkBundle;
  if (sdk) routes.push(any(c.sdk.path, (req, res) => sdk.handle(req, res)));
  routes.push(
    any('/healthz', (_req, res) => sendJson(res, 200, { status: 'ok' })),
    any('/readyz', (_req, res) => {
      const ready = node.isReady();
      sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : node.state === 'ready' ? 'broker_unavailable' : node.state });
    }),
  );
  if (t.ownServer) {
    const demo = t.demoPage;
    if (demo?.built) {
      // With a build, every path under `/demo/` and `/` itself are the demo's (its own 404s and 405s).
      const page: RouteHandler = (req, res, url) => void demo.handle(req, res, url.pathname);
      routes.push(any('/', page), { path: '/demo/', prefix: true, methods: { '*': page } });
    }
    const index: RouteHandler = (req, res) => {
      if (req.url === '/' || req.url === '/favicon.ico') sendJson(res, 200, { name: 'switchboard', version: t.version, websocket: c.websocket.path, sse: c.sse.path, api: '/api/openapi.json' });
      else notFound(req, res);
    };
    routes.push(any('/', index), any('/favicon.ico', index), { path: '/', prefix: true, methods: { '*': notFound } });
  }
  const upgrades: UpgradeRoute[] = [{ path: c.websocket.path, handle: (req, socket, head, url) => t.ws.handleUpgrade(req, socket, head, url) }];
  // Pusher clients connect to `/app/{key}`; the endpoint refuses other keys.
  if (pusher) upgrades.push({ path: PUSHER_WS_PREFIX, prefix: true, handle: (req, socket, head, url) => t.ws.handleUpgrade(req, socket, head, url, pusher.endpoint) });
  const centrifuge = t.centrifuge;
  if (centrifuge && c.websocket.path !== CENTRIFUGE_PATH) {
    upgrades.push({ path: CENTRIFUGE_PATH, handle: (req, socket, head, url) => t.ws.handleUpgrade(req, socket, head, url, centrifuge) });
  }
  return new RouteTable(routes, upgrades, t.observer);
}

function notFound(req: IncomingMessage, res: ServerResponse): void {
  sendError(res, 404, 'not_found', `no route ${req.method} ${req.url?.split('?')[0]}`);
}
