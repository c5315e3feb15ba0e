/**
 * The demo page in a real browser (Debian's chromium via playwright-core) against a real `switchboard serve`
 * process with the memory broker and the demo producer: two pages chat and see each other in presence (history on
 * join); a notification reaches the right user's pages only; the live stream updates over the SDK's WebSocket
 * client, the SDK's SSE client and a plain native EventSource; and after kill -9 and a restart on the same port the
 * pages reconnect and the chat works again. With the memory broker the restart loses the room's history: the SDK
 * reports `recoveryFailed` (epoch changed) and the page says so and reloads — the lossless path is demo-redis.test.ts.
 */
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { browserSuite, chatTexts, ensureDemoBuilt, launchBrowser, openPage, say, seen, type TestPage } from '../helpers/browser.js';
import { startCli, type Cli } from '../helpers/cli.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { mintHs256 } from '../helpers/tokens.js';

// Functions passed to the page run in the browser; the test program is compiled without DOM types.
declare const document: any;

const FLAGS = ['--demo.producer', '--demo.producerInterval', '200ms', '--limits.connectRate', '0'];

const streamCount = async (p: Page) => Number(await p.textContent('#stream-count'));

browserSuite('demo page in chromium (memory broker)', ({ it, before, after }) => {
  let browser: Browser;
  let server: Cli;
  const pages: TestPage[] = [];
  const base = () => `http://127.0.0.1:${server.port}`;
  const open = async (query: string) => {
    const p = await openPage(browser, `${base()}/${query}`);
    pages.push(p);
    return p;
  };

  before(async () => {
    await ensureDemoBuilt();
    server = await startCli(FLAGS);
    browser = await launchBrowser();
  });
  after(async () => {
    for (const p of pages) await p.close().catch(() => {});
    await browser?.close();
    await server?.kill();
  });

  it('two pages chat in a room and see each other in presence; a late joiner gets the history', async () => {
    const alice = await open('?user=alice&room=r1');
    await alice.page.waitForSelector('#status[data-state="connected"]');
    await alice.page.waitForSelector('#presence li[data-user="alice"]');
    await say(alice.page, 'hello from alice');
    await seen(alice.page, 'hello from alice');

    const bob = await open('?user=bob&room=r1');
    await seen(bob.page, 'hello from alice'); // read from history on join
    await bob.page.waitForSelector('#presence li[data-user="alice"]');
    await alice.page.waitForSelector('#presence li[data-user="bob"]');
    assert.equal(await alice.page.textContent('#presence-count'), '2');

    await say(bob.page, 'hi alice, bob here');
    await seen(alice.page, 'hi alice, bob here');
    await say(alice.page, 'welcome bob');
    await seen(bob.page, 'welcome bob');
    await seen(alice.page, 'welcome bob'); // the sender's own copy comes back from the server too
    const expected = ['hello from alice', 'hi alice, bob here', 'welcome bob'];
    assert.deepEqual(await chatTexts(alice.page), expected);
    assert.deepEqual(await chatTexts(bob.page), expected);
    // Own messages are marked as such; the page ran without errors or CSP violations (WebSocket under connect-src 'self').
    assert.deepEqual(await alice.page.$$eval('#messages li.mine .text', (els) => els.map((e) => e.textContent)), ['hello from alice', 'welcome bob']);
    for (const p of [alice, bob]) {
      assert.deepEqual(await p.cspViolations(), []);
      assert.deepEqual(p.errors, []);
    }

    // Leaving takes bob out of alice's presence list.
    await bob.close();
    await alice.page.waitForFunction(() => !document.querySelector('#presence li[data-user="bob"]'));
  });

  it('a notification reaches every page of the right user and no one else', async () => {
    const alice = await open('?user=alice&room=r2');
    const bob1 = await open('?user=bob&room=r2');
    const bob2 = await open('?user=bob&room=r2');
    const carol = await open('?user=carol&room=r2');
    for (const p of [alice, bob1, bob2, carol]) await p.page.waitForSelector('#status[data-state="connected"]');

    const notify = async (to: string, title: string) => {
      await alice.page.fill('#notify-form input[name=to]', to);
      await alice.page.fill('#notify-form input[name=title]', title);
      await alice.page.fill('#notify-form input[name=body]', `for ${to}`);
      await alice.page.selectOption('#notify-form select[name=priority]', 'high');
      await alice.page.click('#notify-form button[type=submit]');
      await alice.page.waitForFunction((u) => document.getElementById('notify-result')?.textContent === `Sent to ${u}.`, to);
    };
    await notify('bob', 'Deploy finished');
    for (const p of [bob1, bob2]) {
      await p.page.waitForSelector('#notifications li.note.high');
      assert.equal(await p.page.textContent('#notifications li.note strong'), 'Deploy finished');
      assert.match((await p.page.textContent('#notifications li.note')) ?? '', /for bob.*from alice/s);
      assert.equal(await p.page.textContent('#notify-count'), '1');
    }
    // A later notification to carol arrives; by then bob's would have reached her if it were going to.
    await notify('carol', 'Your turn');
    await carol.page.waitForSelector('#notifications li.note');
    const titles = (p: TestPage) => p.page.$$eval('#notifications li.note strong', (els) => els.map((e) => e.textContent));
    assert.deepEqual(await titles(carol), ['Your turn']);
    assert.deepEqual(await titles(alice), []);
    assert.deepEqual(await titles(bob1), ['Deploy finished']);
    assert.deepEqual(await titles(bob2), ['Deploy finished']);
  });

  it('the live stream updates over the SDK WebSocket client, the SDK SSE client and a native EventSource', async () => {
    const p = await open('?user=dora&room=r3&stream=ws');
    const requests: { url: string; type: string }[] = [];
    p.page.on('request', (r) => requests.push({ url: r.url(), type: r.resourceType() }));
    const check = async (label: string) => {
      await p.page.waitForSelector('#stream-status[data-state="connected"]');
      const from = await streamCount(p.page);
      await p.page.waitForFunction((n) => Number(document.getElementById('stream-count')!.textContent) >= n + 3, from);
      assert.equal(await p.page.textContent('#stream-via'), label);
      for (const m of ['temperature', 'humidity', 'cpu']) assert.match((await p.page.textContent(`#m-${m} .value`)) ?? '', /^\d+\.\d$/);
    };
    await check('WebSocket (SDK)');
    await p.page.click('#stream-modes button[data-mode="sse"]');
    await check('SSE (SDK)');
    await p.page.click('#stream-modes button[data-mode="eventsource"]');
    await check('EventSource (native)');
    const streams = requests.filter((r) => new URL(r.url).pathname === '/events');
    assert.ok(streams.some((r) => r.type === 'fetch' && r.url.includes('demo.stream')), `SDK SSE client (fetch): ${JSON.stringify(streams)}`);
    assert.ok(streams.some((r) => r.type === 'eventsource' && r.url.includes('channel=demo.stream')), `native EventSource: ${JSON.stringify(streams)}`);
    // The sparklines were drawn: some canvas pixel is not transparent.
    const painted = await p.page.$eval('#spark-cpu', (c) => {
      const canvas = c as any;
      const d = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      return (Array.from(d) as number[]).some((v, i) => i % 4 === 3 && v > 0);
    });
    assert.ok(painted, 'the CPU sparkline is drawn');
    assert.deepEqual(await p.cspViolations(), []);
    assert.deepEqual(p.errors, []);
  });

  it('kill -9 and a restart on the same port: the pages reconnect, say the history was lost, and chat again', async () => {
    const alice = await open('?user=alice&room=r4&stream=eventsource');
    const bob = await open('?user=bob&room=r4&stream=sse');
    await bob.page.waitForSelector('#presence li[data-user="alice"]');
    await say(alice.page, 'before the crash');
    await seen(bob.page, 'before the crash');

    const port = server.port;
    await server.kill();
    for (const p of [alice, bob]) await p.page.waitForSelector('#status[data-state="reconnecting"]');
    server = await startCli([...FLAGS, '--port', String(port)]);
    assert.equal(server.port, port);

    for (const p of [alice, bob]) {
      await p.page.waitForSelector('#status[data-state="connected"]', { timeout: 60_000 });
      // The memory broker started empty: the resume cannot be gap-free and the page says so.
      await p.page.waitForFunction(() => [...document.querySelectorAll('#messages li.notice.warn')].some((e: any) => /could not replay/.test(e.textContent ?? '')));
    }
    await bob.page.waitForSelector('#presence li[data-user="alice"]', { timeout: 60_000 });
    await alice.page.waitForSelector('#presence li[data-user="bob"]', { timeout: 60_000 });
    await say(alice.page, 'after the restart');
    await seen(bob.page, 'after the restart');
    await say(bob.page, 'still here');
    await seen(alice.page, 'still here');
    await seen(bob.page, 'still here');
    // What was on screen stays; the new epoch's messages follow it.
    assert.deepEqual(await chatTexts(bob.page), ['before the crash', 'after the restart', 'still here']);
    // Both streams (native EventSource and the SDK SSE client) came back too.
    for (const p of [alice, bob]) {
      const from = await streamCount(p.page);
      await p.page.waitForFunction((n) => Number(document.getElementById('stream-count')!.textContent) >= n + 2, from, { timeout: 60_000 });
      assert.deepEqual(p.errors, []);
    }
  });
});

browserSuite('demo page in chromium (JWT authentication)', ({ it, before, after }) => {
  const secret = 'a-demo-test-secret-of-at-least-32-bytes!';
  let browser: Browser;
  let srv: TestServer;
  before(async () => {
    await ensureDemoBuilt();
    srv = await startServer(['--jwt.secret', secret]);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await srv?.close();
  });

  it('asks for a token instead of a name, and the pasted token is the identity', async () => {
    const p = await openPage(browser, `${srv.url}/?user=mallory`);
    // ?user= means nothing here: the page waits for a token.
    await p.page.waitForSelector('#token-field:not([hidden])');
    assert.equal(await p.page.isVisible('#name-field'), false);
    assert.equal(await p.page.isVisible('#app'), false);
    await p.page.fill('textarea[name=token]', await mintHs256(secret, { sub: 'carol' }));
    await p.page.fill('input[name=room]', 'secure');
    await p.page.click('#join-form button[type=submit]');
    await p.page.waitForSelector('#status[data-state="connected"]');
    assert.equal(await p.page.textContent('#status .label'), 'Connected as carol');
    await p.page.waitForSelector('#presence li[data-user="carol"]');
    await say(p.page, 'signed in with a token');
    await seen(p.page, 'signed in with a token');
    // Notifications come from the backend here (no demo producer): the page shows the API call for this user.
    assert.match((await p.page.textContent('#notify-command')) ?? '', /"user":"carol"/);
    assert.deepEqual(p.errors, []);
    await p.close();
  });
});
