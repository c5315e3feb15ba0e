/**
 * The admin console in a real browser (Debian's chromium via playwright-core) against a server in production mode
 * (JWT auth, an API key, admin.enabled with admin.secret): refused without credentials, then signed in; a WebSocket
 * connection appears in the overview; a channel is tailed live while the server API and the console's form publish
 * to it (the subscriber gets the console's publication too); a user's connections are listed and disconnected, one
 * with a chosen code, then all.
 */
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { browserSuite, ensureDemoBuilt, launchBrowser, openPage, type TestPage } from '../helpers/browser.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { mintHs256 } from '../helpers/tokens.js';
import { connectReady, type WsClient } from '../helpers/ws-client.js';

// Functions passed to the page run in the browser; the test program is compiled without DOM types.
declare const document: any;
declare function getComputedStyle(el: unknown): any;

const KEY = 'admin-browser-api-key';
const SECRET = 'admin-browser-secret-of-32-bytes-or-more';
const JWT = 'admin-browser-jwt-secret-of-32-bytes-or-more';

browserSuite('admin console in chromium', ({ it, before, after }) => {
  let browser: Browser;
  let server: TestServer;
  let page: TestPage;
  const clients: WsClient[] = [];
  const publish = async (channel: string, data: unknown, event: string) => {
    const r = await server.api('POST', '/api/publish', { channel, data, event }, { 'x-api-key': KEY });
    assert.equal(r.status, 200);
  };
  const connect = async (user: string, channel: string) => {
    const token = await mintHs256(JWT, { sub: user });
    const { client } = await connectReady(`${server.wsUrl}?token=${token}`);
    clients.push(client);
    await client.call('subscribe', { channel });
    return client;
  };

  before(async () => {
    await ensureDemoBuilt();
    server = await startServer(['--jwt.secret', JWT, '--apiKey', KEY, '--admin.enabled', '--admin.secret', SECRET, '--admin.statsInterval', '500ms']);
    browser = await launchBrowser();
  });
  after(async () => {
    for (const c of clients) await c.close().catch(() => {});
    await page?.close().catch(() => {});
    await browser?.close();
    await server?.close();
  });

  it('refuses without credentials, then signs in with admin.secret', async () => {
    page = await openPage(browser, `${server.url}/admin`, { width: 390, height: 844 }); // a phone
    const p = page.page;
    await p.waitForSelector('#signin-form');
    assert.equal(await p.isVisible('#console'), false);
    // Without a session the API refuses the page.
    assert.equal(await p.evaluate(() => fetch('/api/stats').then((r: any) => r.status)), 401);
    assert.equal(await p.evaluate(() => fetch('/admin/stream').then((r: any) => r.status)), 401);
    await p.fill('#signin-form input[name=name]', 'ops-alice');
    await p.fill('#signin-form input[name=secret]', 'not the secret');
    await p.click('#signin-form button[type=submit]');
    await p.waitForSelector('#signin-error:not([hidden])');
    assert.match(await p.textContent('#signin-error') ?? '', /wrong secret/);
    await p.fill('#signin-form input[name=secret]', SECRET);
    await p.click('#signin-form button[type=submit]');
    await p.waitForSelector('#console:not([hidden])');
    assert.equal(await p.textContent('#operator'), 'ops-alice');
    await p.waitForSelector('#stream-status[data-state="connected"]');
    // The session cookie is out of the page's reach (HttpOnly).
    assert.equal(await p.evaluate(() => document.cookie), '');
  });

  it('shows a new connection in the overview', async () => {
    const p = page.page;
    await p.waitForSelector('#nodes tbody tr[data-node]');
    assert.equal(await p.textContent('#nodes tbody tr td.connections'), '0');
    await connect('carol', 'news');
    await p.waitForFunction(() => document.querySelector('#nodes tbody tr td.connections')?.textContent === '1');
    await p.waitForFunction(() => document.querySelector('#total-connections')?.textContent === '1');
  });

  it('tails a channel live and publishes to it from the form', async () => {
    const p = page.page;
    const carol = clients[0]!;
    await publish('news', { text: 'before the tail' }, 'note');
    await p.click('[data-tab="channels"]');
    await p.waitForSelector('#channels li[data-channel="news"]');
    await p.click('#channels li[data-channel="news"] button');
    await p.waitForFunction(() => document.querySelector('#history')?.textContent.includes('before the tail'));
    await p.waitForSelector('#presence li[data-user="carol"]');
    await p.click('#tail-toggle');
    await p.waitForSelector('#tail-toggle[data-state="live"]');
    await publish('news', { text: 'from the API' }, 'note');
    await p.waitForFunction(() => document.querySelector('#tail')?.textContent.includes('from the API'));

    // Invalid JSON is caught in the page: nothing is sent.
    await p.fill('#publish-form textarea[name=data]', '{"text": oops}');
    await p.click('#publish-form button[type=submit]');
    await p.waitForSelector('#publish-error:not([hidden])');
    await p.fill('#publish-form textarea[name=data]', '{"text": "from the console"}');
    await p.fill('#publish-form input[name=event]', 'console');
    await p.click('#publish-form button[type=submit]');
    await p.waitForFunction(() => /Published at offset \d+/.test(document.querySelector('#publish-result')?.textContent ?? ''));
    await p.waitForFunction(() => document.querySelector('#tail')?.textContent.includes('from the console'));
    // The real subscriber got it through the same path.
    await waitUntil(() => carol.messages.some((m) => JSON.stringify(m).includes('from the console')));
    assert.equal(carol.messages.some((m) => JSON.stringify(m).includes('oops')), false);
    await p.click('#tail-toggle'); // stop
  });

  it('finds a user, disconnects one connection with a chosen code, then all of them', async () => {
    const p = page.page;
    const second = await connect('carol', 'alerts');
    const third = await connect('carol', 'alerts');
    await p.click('[data-tab="users"]');
    await p.fill('#user-search', 'carol');
    await p.press('#user-search', 'Enter');
    await p.waitForFunction(() => document.querySelectorAll('#connections tbody tr[data-client]').length === 3);
    const rowText = await p.textContent('#connections tbody');
    assert.match(rowText ?? '', /websocket/);
    assert.match(rowText ?? '', /127\.0\.0\.1/);
    // One connection, with 4000 (reconnect): pick the second client's row by the channel it subscribed.
    await p.selectOption('#disconnect-code', '4000');
    const secondId = await p.$$eval('#connections tbody tr[data-client]', (rows: any[]) => rows.map((r) => [r.dataset.client, r.textContent]))
      .then((rows) => rows.filter(([, t]) => t.includes('alerts')).map(([id]) => id as string));
    assert.equal(secondId.length, 2);
    await p.click(`#connections tr[data-client="${secondId[0]}"] button.disconnect-one`);
    const closedOne = await Promise.race([second.closed, third.closed]);
    assert.equal(closedOne.code, 4000);
    await p.waitForFunction(() => document.querySelectorAll('#connections tbody tr[data-client]').length === 2);
    // All, with 4502 (no reconnect).
    await p.selectOption('#disconnect-code', '4502');
    await p.click('#disconnect-all');
    for (const c of [clients[0]!, second.isClosed ? third : second]) assert.equal((await c.waitClosed(5000)).code, 4502);
    await p.waitForFunction(() => document.querySelectorAll('#connections tbody tr[data-client]').length === 0);
    assert.deepEqual(page.errors, []);
    assert.deepEqual(await page.cspViolations(), []);
  });

  it('fits a phone screen on every tab, and follows the dark colour scheme', async () => {
    const p = page.page;
    const overflow = () => p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    for (const tab of ['overview', 'channels', 'users']) {
      await p.click(`[data-tab="${tab}"]`);
      assert.equal(await overflow(), 0, `the ${tab} tab scrolls sideways on a 390 px wide screen`);
    }
    const background = () => p.evaluate(() => getComputedStyle(document.body).backgroundColor as string);
    await p.emulateMedia({ colorScheme: 'light' });
    const light = await background();
    await p.emulateMedia({ colorScheme: 'dark' });
    const dark = await background();
    assert.notEqual(dark, light);
    // Dark means dark: the background's brightness is low (0-255 average of r, g, b).
    const [r, g, b] = (dark.match(/\d+/g) ?? []).map(Number);
    assert.ok((r! + g! + b!) / 3 < 80, `dark background ${dark}`);
  });
});

async function waitUntil(pred: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
