/**
 * Builds the browser bundle of the client SDK: dist/client/switchboard.min.js (ESM, minified, browser platform)
 * from src/client/index.ts, and prints its size minified and gzipped (`--quiet`: nothing; `--json`: as JSON). The demo page imports this file; the size budget (10 KB gzip) is checked by test/unit/client-bundle.test.ts.
 */
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const BUNDLE = join(root, 'dist/client/switchboard.min.js');

export async function buildClientBundle(outfile = BUNDLE) {
  await build({
    entryPoints: [join(root, 'src/client/index.ts')],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    // Loaded lazily in Node 20 only (src/client/websocket-impl.ts); browsers have a global WebSocket.
    external: ['ws'],
    logLevel: 'warning',
  });
  const bytes = readFileSync(outfile);
  return { outfile, minified: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  // --out <file>: build elsewhere (the size test builds into a temp dir); --json: print the sizes as JSON.
  const args = process.argv.slice(2);
  const out = args.includes('--out') ? args[args.indexOf('--out') + 1] : undefined;
  const r = await buildClientBundle(out);
  if (args.includes('--json')) console.log(JSON.stringify(r));
  else if (!args.includes('--quiet')) {
    console.log(`client bundle ${r.outfile.startsWith(root) ? r.outfile.slice(root.length + 1) : r.outfile}: ${r.minified} bytes minified, ${r.gzip} bytes gzip`);
  }
}
