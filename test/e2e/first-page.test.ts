/**
 * README's "Your first real-time page", pasted as it is into a page served from another origin, in chromium: it loads
 * the SDK bundle from the Switchboard server (`sdk.path`) and shows what is published. Also the bundle's HTTP
 * contract (a public, cacheable, gzipped script) and `sdk.serve false`.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { browserSuite, launchBrowser, openPage } from '../helpers/browser.js';
import { startServer, type TestServer } from '../helpers/server.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The HTML between the README's first-page markers, pointed at the test server instead of localhost:8080. */
function readmePage(port: number): string {
  const readme = readFileSync(`${ROOT}README.md`, 'utf8');
  const block = /<!-- first-page:start -->\s*```html\n([\s\S]*?)```\s*<!-- first-page:end -->/.exec(readme);
  assert.ok(block, 'README has the first-page block');
  assert.match(block[1], /localhost:8080/);
  return block[1].replaceAll('localhost:8080', `127.0.0.1:${port}`);
}

describe('the SDK bundle served by the server', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(() => server.close());

  it('is a public, cacheable, gzipped script that exports the clients', async () => {
    const res = await fetch(`${server.url}/switchboard.min.js`, { headers: { origin: 'http://elsewhere.test', 'accept-encoding': 'gzip' } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    assert.equal(res.headers.get('access-control-allow-credentials'), null);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    const etag = res.headers.get('etag');
    assert.ok(etag);
    const code = await res.text(); // fetch undoes the gzip
    const mod = (await import(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`)) as Record<string, unknown>;
    assert.equal(typeof mod.createClient, 'function');
    assert.equal(typeof mod.createSseClient, 'function');
    const again = await fetch(`${server.url}/switchboard.min.js`, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
    assert.equal((await fetch(`${server.url}/switchboard.min.js`, { method: 'POST' })).status, 405);
  });

  it('is not served with sdk.serve false', async () => {
    const off = await startServer(['--sdk.serve', 'false']);
    try {
      assert.equal((await fetch(`${off.url}/switchboard.min.js`)).status, 404);
    } finally {
      await off.close();
    }
  });
});

browserSuite("README's first real-time page in chromium", ({ it, before, after }) => {
  let browser: Browser;
  let server: TestServer;
  let site: Server;
  before(async () => {
    server = await startServer(); // development mode, as after `npm start`
    const html = readmePage(server.port);
    site = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html));
    site.listen(0, '127.0.0.1');
    await once(site, 'listening');
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    site?.close();
    await server?.close();
  });

  it('shows each publication as it is published', async () => {
    const p = await openPage(browser, `http://127.0.0.1:${(site.address() as AddressInfo).port}/page.html`);
    try {
      // Subscribed once the server counts the page's subscription to "news".
      const deadline = Date.now() + 20_000;
      while (!((await server.api('GET', '/api/channels')).body.channels as Array<{ channel: string }>).some((c) => c.channel === 'news')) {
        assert.ok(Date.now() < deadline, 'the page subscribed to news');
        await new Promise((r) => setTimeout(r, 100));
      }
      await server.publish('news', { title: 'Hello' });
      await server.publish('news', { title: 'Hello again' });
      await p.page.waitForFunction(() => (globalThis as any).document.querySelectorAll('#news li').length === 2);
      const items = await p.page.$$eval('#news li', (els) => els.map((e) => e.textContent));
      assert.deepEqual(items, ['#1 Hello', '#2 Hello again']);
      assert.deepEqual(p.errors, []);
    } finally {
      await p.close();
    }
  });
});
