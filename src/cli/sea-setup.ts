/**
 * Runs first in the single executable (src/cli/sea.ts): hands the SEA assets that scripts/build-exe.mjs embedded
 * (listed in its `manifest.json` asset) to the server, gives the client SDK (`subscribe`) its WebSocket, and lets
 * `serve --workers N` start its workers.
 */
import cluster from 'node:cluster';
import { getAsset, isSea } from 'node:sea';
import { WebSocket } from 'ws';
import type { WebSocketConstructor } from '../client/index.js';
import { setEmbeddedFiles } from '../http/embedded.js';

if (isSea()) {
  // `serve --workers N`: cluster.fork() starts the executable with the primary's argv[1] (in an executable, the
  // command as typed) before the arguments, and the executable puts its own path in front again: that copy goes.
  if (cluster.isWorker) process.argv.splice(2, 1);
  const names = JSON.parse(getAsset('manifest.json', 'utf8')) as string[];
  const known = new Set(names);
  setEmbeddedFiles({ names, read: (name) => (known.has(name) ? Buffer.from(getAsset(name)) : undefined) });
}

// Node 20 has no global WebSocket, and the SDK's fallback, a dynamic import('ws'), finds no package next to an
// executable: it uses the bundled one instead.
const g = globalThis as { WebSocket?: WebSocketConstructor };
g.WebSocket ??= WebSocket as unknown as WebSocketConstructor;
