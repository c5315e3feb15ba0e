/**
 * `publish(channel, data, { excludeSelf: true })` in chromium, with the SDK's browser bundle (scripts/build-client.mjs):
 * a page publishes to a channel it is subscribed to; a second page receives the publication, the publisher does not;
 * its next publication (from the API) arrives with no resubscribe, so the excluded one is never fetched back.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { browserSuite, launchBrowser } from '../helpers/browser.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

// Functions passed to the page run in the browser; the test program is compiled without DOM types.
declare const window: any;

browserSuite('excludeSelf in chromium', ({ it, before, after }) => {
  let browser: Browser;
  let srv: TestServer;
  /** The app's own origin on loopback: an empty page and the bundle (a routed page would be a public origin, which Chromium's local network checks keep off the loopback server). */
  let site: Server;
  let siteUrl = '';
  const dir = mkdtempSync(join(tmpdir(), 'sb-exclude-'));

  before(async () => {
    const out = join(dir, 'switchboard.min.js');
    execFileSync(process.execPath, ['scripts/build-client.mjs', '--out', out, '--quiet']);
    const bundle = readFileSync(out, 'utf8');
    site = createServer((req, res) => {
      if (req.url === '/sdk.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
      else res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>exclude</title>');
    }).listen(0, '127.0.0.1');
    await once(site, 'listening');
    siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
    srv = await startServer();
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await srv?.close();
    site?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A page of the app's origin whose SDK client (user `user`) is subscribed to `channel`; it records `window.got`. */
  async function clientPage(user: string, channel: string): Promise<Page> {
    const page = await (await browser.newContext()).newPage();
    await page.goto(siteUrl);
    await page.evaluate(async ({ url, user, channel }) => {
      const sdkUrl = '/sdk.js'; // a variable: the import happens in the page, not in this program
      const { createClient } = await import(sdkUrl);
      const client = createClient({ url, params: { user } });
      const sub = client.subscribe(channel);
      const w = window;
      w.got = [];
      w.subscribing = 0;
      sub.on('publication', (p: { offset: number }) => w.got.push(p.offset));
      sub.on('subscribing', () => w.subscribing++);
      client.connect();
      await sub.ready();
      w.client = client;
      w.sub = sub;
    }, { url: srv.wsUrl, user, channel });
    return page;
  }

  it('the publisher gets nothing of its excluded publication, the other page gets it, and the next one arrives without a recovery', async () => {
    const channel = 'browser-room';
    const pub = await clientPage('pub', channel);
    const other = await clientPage('other', channel);
    const r = await pub.evaluate(async (channel) => window.client.publish(channel, { text: 'mine' }, { excludeSelf: true }), channel);
    const got = (p: Page): Promise<number[]> => p.evaluate(() => window.got);
    await waitFor(async () => (await got(other)).includes(r.offset), { label: 'the other page received it' });
    const next = await srv.publish(channel, { text: 'theirs' });
    await waitFor(async () => (await got(pub)).length >= 1 && (await got(other)).length >= 2, { label: 'the next publication on both pages' });
    assert.deepEqual(await got(pub), [next.offset], 'the excluded publication was never delivered to its publisher');
    assert.deepEqual(await got(other), [r.offset, next.offset]);
    assert.equal(await pub.evaluate(() => window.subscribing), 0, 'no resubscribe (gap recovery)');
    assert.deepEqual(await pub.evaluate(() => window.sub.position), { epoch: next.epoch, offset: next.offset });
  });
});
