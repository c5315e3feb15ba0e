/**
 * Laravel Echo with pusher-js in Chromium against Switchboard's Pusher endpoint (issue #17): the page comes from an
 * "app" server on another loopback port that also is the app's auth endpoint (`/broadcasting/auth`, signed by the
 * real `pusher` library, as Laravel's broadcaster does). Public, private and presence channels, whispers (client
 * events), `toOthers` (the publisher's socket id excluded), and a private channel signed with a wrong secret refused.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Browser } from 'playwright-core';
import { browserSuite, launchBrowser, openPage, type TestPage } from '../helpers/browser.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { APP, PUSHER_FLAGS, pusherServer } from '../helpers/pusher.js';
import { waitFor } from '../helpers/wait.js';

// Functions passed to the page run in the browser; the test program is compiled without DOM types.
declare const window: any;

const require = createRequire(import.meta.url);
const PUSHER_JS = readFileSync(join(dirname(require.resolve('pusher-js')), '../web/pusher.js'));
const ECHO_JS = readFileSync(join(dirname(require.resolve('laravel-echo')), 'echo.iife.js'));

/** The app: its page, the two scripts, and its auth endpoint (the signed-in user is the `user` query parameter). */
function appServer(port: () => number): Server {
  return createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/pusher.js' || url.pathname === '/echo.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      return res.end(url.pathname === '/pusher.js' ? PUSHER_JS : ECHO_JS);
    }
    if (url.pathname === '/broadcasting/auth') {
      let body = '';
      req.on('data', (c: Buffer) => (body += c));
      req.on('end', () => {
        const form = new URLSearchParams(body);
        const channel = form.get('channel_name')!;
        const user = url.searchParams.get('user') ?? 'guest';
        const presence = channel.startsWith('presence-') ? { user_id: user, user_info: { name: user } } : undefined;
        // `private-vault` is signed with a wrong secret (an auth endpoint with a stale secret): Switchboard refuses it.
        const signer = pusherServer(port(), channel === 'private-vault' ? 'not-the-app-secret' : undefined);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(signer.authorizeChannel(form.get('socket_id')!, channel, presence)));
      });
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<!doctype html><meta charset="utf-8"><script src="/pusher.js"></script><script src="/echo.js"></script>
<script>
  const user = new URLSearchParams(location.search).get('user');
  window.got = [];
  window.members = null;
  // \`?broadcaster=reverb\`: Laravel Reverb's Echo setting (the same pusher-js connector, without a cluster).
  window.echo = new Echo.default({ broadcaster: new URLSearchParams(location.search).get('broadcaster') ?? 'pusher', key: ${JSON.stringify(APP.key)}, cluster: 'test', wsHost: '127.0.0.1',
    wsPort: ${port()}, forceTLS: false, enabledTransports: ['ws'], disableStats: true, authEndpoint: '/broadcasting/auth?user=' + user });
  echo.channel('orders').listen('.shipped', (e) => got.push(['orders', e]));
  echo.private('account.' + user).listen('.billed', (e) => got.push(['account', e]));
  echo.private('chat').listenForWhisper('typing', (e) => got.push(['typing', e]));
  echo.private('vault').listen('.opened', (e) => got.push(['vault', e])).error((e) => got.push(['vault-error', e.status]));
  echo.join('lobby').here((users) => (members = users.map((u) => u.name).sort()))
    .joining((u) => got.push(['joining', u.name])).leaving((u) => got.push(['leaving', u.name]));
</script>`);
  });
}

browserSuite('Laravel Echo + pusher-js in Chromium', ({ it, before, after }) => {
  let srv: TestServer;
  let app: Server;
  let browser: Browser;
  let origin = '';
  const pages: TestPage[] = [];
  before(async () => {
    srv = await startServer(PUSHER_FLAGS);
    app = appServer(() => srv.port);
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    const a = app.address();
    origin = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
    browser = await launchBrowser();
  });
  after(async () => {
    for (const p of pages) await p.close();
    await browser?.close();
    app?.close();
    await srv?.close();
  });

  async function open(user: string, broadcaster = 'pusher'): Promise<TestPage> {
    const p = await openPage(browser, `${origin}/?user=${user}&broadcaster=${broadcaster}`);
    pages.push(p);
    await p.page.waitForFunction(() => window.echo.connector.pusher.connection.state === 'connected' && window.members !== null);
    return p;
  }
  const got = (p: TestPage): Promise<unknown[]> => p.page.evaluate(() => window.got);

  it('subscribes public, private and presence channels and gets server events, except the publisher\'s', async () => {
    const ann = await open('ann');
    // Bob's page is set up as for Laravel Reverb (`broadcaster: 'reverb'`), Ann's as for Pusher or soketi.
    const bob = await open('bob', 'reverb');
    assert.equal(await bob.page.evaluate(() => window.echo.options.broadcaster), 'reverb');
    assert.deepEqual(await bob.page.evaluate(() => window.members), ['ann', 'bob']);
    await waitFor(async () => (await got(ann)).some((g) => JSON.stringify(g) === '["joining","bob"]'), { timeout: 5000, interval: 50 });
    const pusher = pusherServer(srv.port);
    await pusher.trigger('private-account.bob', 'billed', { eur: 5 });
    // `broadcast(...)->toOthers()`: Laravel sends the socket id of the page that caused it.
    const annSocket = await ann.page.evaluate(() => window.echo.socketId());
    await pusher.trigger('orders', 'shipped', { id: 7 }, { socket_id: annSocket });
    const served = async (p: TestPage) => (await got(p)).filter((g) => (g as string[])[0] === 'orders' || (g as string[])[0] === 'account');
    await waitFor(async () => (await served(bob)).length >= 2, { timeout: 5000, interval: 50 });
    assert.deepEqual(await served(bob), [['account', { eur: 5 }], ['orders', { id: 7 }]]);
    assert.deepEqual(await served(ann), []);
  });

  it('refuses a private channel its auth endpoint signed with a wrong secret: an error, and none of its events', async () => {
    const ann = pages[0]!;
    await waitFor(async () => (await got(ann)).some((g) => JSON.stringify(g) === '["vault-error",401]'), { timeout: 5000, interval: 50 });
    await pusherServer(srv.port).trigger('private-vault', 'opened', { secret: 1 });
    // A later event on a channel ann is subscribed to arrives; the vault's did not.
    await pusherServer(srv.port).trigger('orders', 'shipped', { id: 8 });
    await waitFor(async () => (await got(ann)).some((g) => JSON.stringify(g) === '["orders",{"id":8}]'), { timeout: 5000, interval: 50 });
    assert.deepEqual((await got(ann)).filter((g) => (g as string[])[0] === 'vault'), []);
  });

  it('relays whispers to the other page only, and announces leaving', async () => {
    const [ann, bob] = [pages[0]!, pages[1]!];
    await ann.page.evaluate(() => window.echo.private('chat').whisper('typing', { who: 'ann' }));
    await waitFor(async () => (await got(bob)).some((g) => (g as string[])[0] === 'typing'), { timeout: 5000, interval: 50 });
    assert.deepEqual((await got(bob)).filter((g) => (g as string[])[0] === 'typing'), [['typing', { who: 'ann' }]]);
    assert.deepEqual((await got(ann)).filter((g) => (g as string[])[0] === 'typing'), []);
    await bob.page.evaluate(() => window.echo.leave('lobby'));
    await waitFor(async () => (await got(ann)).some((g) => JSON.stringify(g) === '["leaving","bob"]'), { timeout: 5000, interval: 50 });
    assert.deepEqual(ann.errors, []);
  });
});
