/**
 * The single executable's embedded files (src/http/embedded.ts), without building one (scripts/check-exe.mjs
 * does that in CI): once registered, the server answers `/`, `/demo/<asset>` and the SDK bundle from them and
 * `switchboard dashboard` prints the embedded dashboard, not the files in dist/ and deploy/. Registration is
 * process-wide; node --test runs each file in its own process.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { dashboardCommand } from '../../src/cli/dashboard.js';
import { setEmbeddedFiles } from '../../src/http/embedded.js';
import { startServer, type TestServer } from '../helpers/server.js';

const FILES: Record<string, string> = {
  'web/index.html': '<!doctype html><title>embedded page</title>',
  'web/app-ABCDEFGH.js': 'console.log("embedded app")',
  'client/switchboard.min.js': 'export const createClient = "embedded sdk";',
  'deploy/grafana/switchboard.json': '{"title":"embedded dashboard","panels":[]}',
};

describe('embedded files (single executable)', () => {
  let server: TestServer;
  before(async () => {
    setEmbeddedFiles({ names: Object.keys(FILES), read: (n) => (n in FILES ? Buffer.from(FILES[n]!) : undefined) });
    server = await startServer();
  });
  after(() => server?.close());

  it('serves the demo page and its assets from them', async () => {
    const page = await fetch(`${server.url}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.equal(await page.text(), FILES['web/index.html']);
    const asset = await fetch(`${server.url}/demo/app-ABCDEFGH.js`);
    assert.equal(await asset.text(), FILES['web/app-ABCDEFGH.js']);
    assert.match(asset.headers.get('cache-control') ?? '', /immutable/);
  });

  it('serves the SDK bundle from them', async () => {
    const sdk = await fetch(`${server.url}/switchboard.min.js`);
    assert.equal(sdk.status, 200);
    assert.equal(await sdk.text(), FILES['client/switchboard.min.js']);
  });

  it('switchboard dashboard prints the embedded dashboard', async () => {
    let out = '';
    const write = process.stdout.write;
    process.stdout.write = ((chunk: string | Uint8Array) => ((out += String(chunk)), true)) as typeof process.stdout.write;
    try {
      assert.equal(await dashboardCommand.run([], {}), 0);
    } finally {
      process.stdout.write = write;
    }
    assert.equal(out, FILES['deploy/grafana/switchboard.json']);
  });
});
