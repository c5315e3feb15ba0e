/**
 * The demo page's routes on a server Switchboard created itself (`demo.enabled`, default on): `GET /` is the page,
 * `/demo/<file>` its assets (built by scripts/build-web.mjs into dist/web), `/demo/config.json` what the page must
 * know about this server (auth mode, paths, stream channel), and `POST /demo/notify` only while `demo.producer` is on.
 * Without a build (tsc only), `/` keeps answering the JSON index and a warning says how to build the page.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/index.js';
import type { Logger } from '../observability/logger.js';
import { sendError, sendJson } from '../http/responses.js';
import { SECURITY_HEADERS, StaticFiles } from '../http/static.js';
import { DemoNotifier } from './notify.js';
import type { DemoPageConfig } from './page-config.js';

export type { DemoPageConfig };

/** dist/web beside dist/demo (compiled) or src/demo (run with tsx): `../../dist/web` from either. */
export const WEB_DIR = fileURLToPath(new URL('../../dist/web/', import.meta.url));
const PREFIX = '/demo/';


export class DemoPage {
  private readonly files: StaticFiles | undefined;
  private readonly notifier: DemoNotifier | undefined;
  private readonly pageConfig: DemoPageConfig;

  constructor(
    config: Config,
    opts: { insecure: boolean; version: string; logger: Logger; sendToUser: (user: string, event: string, data: string) => Promise<void>; dir?: string },
  ) {
    // The single executable carries the page inside (src/http/embedded.ts); an install reads dist/web.
    const files = opts.dir ? StaticFiles.load(opts.dir) : StaticFiles.embedded('web/') ?? StaticFiles.load(WEB_DIR);
    this.files = files?.get('index.html') ? files : undefined;
    if (!this.files) opts.logger.warn({ dir: opts.dir ?? WEB_DIR }, 'demo page not built (run "npm run build"); "/" answers the JSON index');
    this.notifier = config.demo.producer ? new DemoNotifier(opts.sendToUser) : undefined;
    this.pageConfig = {
      auth: opts.insecure ? 'development' : 'jwt',
      websocket: config.websocket.path,
      sse: config.sse.path,
      stream: { channel: config.demo.channel, producer: config.demo.producer, intervalMs: config.demo.producerInterval },
      notify: this.notifier !== undefined,
      version: opts.version,
    };
  }

  get built(): boolean {
    return this.files !== undefined;
  }

  /** Answers the request when it is the demo's; false otherwise (the caller's 404 or JSON index follows). */
  handle(req: IncomingMessage, res: ServerResponse, path: string): boolean {
    if (!this.files) return false;
    if (path === '/demo/notify' && this.notifier) {
      void this.notifier.handle(req, res);
      return true;
    }
    const name = path === '/' ? 'index.html' : path.startsWith(PREFIX) ? path.slice(PREFIX.length) : undefined;
    if (name === undefined) return false;
    // dist/web/admin/ holds the admin console's files: served at /admin only (src/admin/console.ts), never as demo files.
    if (name.startsWith('admin/')) {
      sendError(res, 404, 'not_found', `no demo file ${path}`, { 'x-content-type-options': 'nosniff' });
      return true;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendError(res, 405, 'method_not_allowed', `use GET for ${path}`, { allow: 'GET, HEAD' });
      return true;
    }
    if (name === 'config.json') {
      sendJson(res, 200, this.pageConfig, { ...SECURITY_HEADERS, 'cache-control': 'no-store' });
      return true;
    }
    // An exact name from the build listing, or nothing: no path is ever joined onto the directory.
    const file = this.files.get(name);
    if (!file) sendError(res, 404, 'not_found', `no demo file ${path}`, { 'x-content-type-options': 'nosniff' });
    else this.files.send(req, res, file);
    return true;
  }
}
