/**
 * Puts the route table on the server. On a server Switchboard created (a Listener), the table answers everything
 * and an upgrade for another path is closed. On an app's server (embedded), Switchboard's paths are answered first
 * and the `request` listeners the server had when Switchboard attached get every other request; upgrades for other
 * paths are left to the app's own `upgrade` listeners.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Listener } from '../listener/create.js';
import type { Logger } from '../observability/logger.js';
import type { RouteTable } from '../http/router.js';

export function attachRoutes(server: Server | HttpsServer, listener: Listener | undefined, table: RouteTable, logger: Logger): void {
  if (listener) {
    // Slow-header clients (slowloris) on upgrade, SSE and API requests are cut off after limits.handshakeTimeout
    // (set by createListener). Every path not in the table gets the table's own 404.
    listener.onRequest((req, res) => table.request(req, res));
    listener.onUpgrade((req, socket, head) => {
      if (!table.upgrade(req, socket, head)) socket.destroy();
    });
  } else {
    // Embedded: the app's listeners are taken off and called for what the table does not answer. A listener the
    // app adds later sees Switchboard's requests too (docs/api.md says to register first).
    const appListeners = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
    server.removeAllListeners('request');
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (!table.request(req, res)) for (const l of appListeners) l.call(server, req, res);
    });
    server.on('upgrade', (req, socket, head) => table.upgrade(req, socket, head));
  }
  server.on('clientError', (err, socket) => {
    // Only the code: the error carries the raw request bytes, tokens and Authorization headers included.
    logger.debug({ code: (err as NodeJS.ErrnoException).code }, 'http client error');
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  });
}
