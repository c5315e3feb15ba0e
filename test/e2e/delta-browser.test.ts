/**
 * Delta compression in chromium (issue #17): a page on the server's origin imports the SDK bundle the server serves
 * (`/switchboard.min.js`), subscribes once with `delta: 'fossil'` and once without on two connections, and the
 * browser's own TextEncoder/TextDecoder rebuild each delta: both receive exactly the published ticker data, and the
 * delta connection's frames (read from the page's WebSocket frames by the test) are mostly deltas.
 */
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { browserSuite, ensureClientBundleBuilt, launchBrowser, openPage, type TestPage } from '../helpers/browser.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

declare const window: any;

const ticker = (i: number) => ({ seq: i, price: 100 + i / 4, quotes: Array.from({ length: 30 }, (_, k) => ({ sym: `S${k}`, bid: k === i % 30 ? i : 0, name: `Instrument ${k} — ünïcødé` })) });

browserSuite('delta compression in chromium', ({ it, before, after }) => {
  let browser: Browser;
  let srv: TestServer;
  let page: TestPage | undefined;

  before(async () => {
    ensureClientBundleBuilt();
    srv = await startServer(['--delta.fullEvery', '8']);
    browser = await launchBrowser();
  });
  after(async () => {
    await page?.close();
    await browser?.close();
    await srv?.close();
  });

  it('rebuilds every delta into the published data, as a subscriber without delta sees it', async () => {
    page = await openPage(browser, `${srv.url}/switchboard.min.js`);
    const frames: { delta: boolean; bytes: number }[] = [];
    page.page.on('websocket', (ws) => {
      if (!ws.url().includes('user=browser-delta')) return;
      ws.on('framereceived', (f) => {
        const text = String(f.payload);
        if (text.includes('"push":"publication"')) frames.push({ delta: JSON.parse(text).delta === true, bytes: Buffer.byteLength(text) });
      });
    });
    await page.page.evaluate(async (wsUrl: string) => {
      const { createClient } = await import('/switchboard.min.js' as string);
      const t = (window.__t = { delta: [] as unknown[], plain: [] as unknown[] });
      for (const [name, opts] of [['delta', { delta: 'fossil' }], ['plain', {}]] as const) {
        const c = createClient({ url: wsUrl, params: { user: `browser-${name}` } });
        const sub = c.subscribe('ticker', opts);
        sub.on('publication', (p: { data: unknown }) => t[name].push(p.data));
        c.connect();
        await sub.ready();
      }
    }, srv.wsUrl);
    const N = 20;
    for (let i = 1; i <= N; i++) await srv.publish('ticker', ticker(i));
    await waitFor(async () => (await page!.page.evaluate(() => window.__t.delta.length + window.__t.plain.length)) === 2 * N, { label: 'all publications in the page' });
    const got = await page.page.evaluate(() => window.__t);
    const expected = Array.from({ length: N }, (_, i) => ticker(i + 1));
    assert.deepEqual(got.delta, expected);
    assert.deepEqual(got.plain, expected);
    await waitFor(() => frames.length === N, { label: 'frames seen' });
    // Full at 1, 9 and 17 (fullEvery 8); the rest deltas.
    assert.deepEqual(frames.map((f, i) => (f.delta ? -1 : i)).filter((i) => i >= 0), [0, 8, 16]);
    assert.deepEqual(page.errors, []);
  });
});
