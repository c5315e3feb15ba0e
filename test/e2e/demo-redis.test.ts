/**
 * The demo page's chat survives kill -9 of its server without loss, with the Redis broker: two `switchboard serve`
 * processes share a Redis (a fresh key prefix); two chromium pages chat through node A; A is killed (SIGKILL) and,
 * while it is down, the backend publishes to the room through node B; A restarts on the same port, the pages
 * reconnect to it, resume from their positions and show every message once, in order — the ones published while A
 * was down included — and no "history lost" notice. Then they chat on.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Browser } from 'playwright-core';
import { browserSuite, chatNotices, chatTexts, ensureDemoBuilt, launchBrowser, openPage, say, seen, type TestPage } from '../helpers/browser.js';
import { startCli, type Cli } from '../helpers/cli.js';
import { deleteRedisPrefix } from '../helpers/redis-prefix.js';

const REDIS_URL = 'redis://127.0.0.1:6379';

browserSuite('demo page in chromium (Redis broker): kill -9 and restart without loss', ({ it, before, after }) => {
  const prefix = 'sbdemo' + randomBytes(4).toString('hex');
  const env = { SWITCHBOARD_REDIS_URL: REDIS_URL, SWITCHBOARD_REDIS_PREFIX: prefix, SWITCHBOARD_LIMITS_CONNECT_RATE: '0' };
  const flags = ['--workers', '1', '--shutdown.timeout', '1s'];
  let browser: Browser;
  let a: Cli;
  let b: Cli;
  const pages: TestPage[] = [];

  before(async () => {
    await ensureDemoBuilt();
    a = await startCli(flags, env);
    b = await startCli(flags, env);
    browser = await launchBrowser();
  });
  after(async () => {
    for (const p of pages) await p.close().catch(() => {});
    await browser?.close();
    await a?.kill();
    await b?.kill();
    await deleteRedisPrefix(prefix);
  });

  it('messages published while the server was down arrive after its restart, once each and in order', async () => {
    const room = 'r' + randomBytes(3).toString('hex');
    const open = async (user: string) => {
      const p = await openPage(browser, `http://127.0.0.1:${a.port}/?user=${user}&room=${room}&stream=ws`);
      pages.push(p);
      return p;
    };
    const alice = await open('alice');
    const bob = await open('bob');
    await alice.page.waitForSelector('#presence li[data-user="bob"]');
    await say(alice.page, 'm0 before the crash');
    await seen(bob.page, 'm0 before the crash');

    const port = a.port;
    await a.kill();
    for (const p of [alice, bob]) await p.page.waitForSelector('#status[data-state="reconnecting"]');
    // The backend keeps publishing to the room through node B while A is down.
    const missed = ['m1 while down', 'm2 while down', 'm3 while down'];
    for (const content of missed) {
      const r = await fetch(`http://127.0.0.1:${b.port}/api/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ channel: `demo.chat.${room}`, event: 'chat_message', data: { room_id: room, user_id: 'backend', content } }),
      });
      assert.equal(r.status, 200, await r.text());
    }
    a = await startCli([...flags, '--port', String(port)], env);
    assert.equal(a.port, port);

    for (const p of [alice, bob]) {
      await p.page.waitForSelector('#status[data-state="connected"]', { timeout: 60_000 });
      await seen(p.page, 'm3 while down', 60_000);
      assert.deepEqual(await chatTexts(p.page), ['m0 before the crash', ...missed]);
      const notes = await chatNotices(p.page);
      assert.ok(notes.some((n) => n.includes('3 missed messages delivered')), `resume notice: ${JSON.stringify(notes)}`);
      assert.ok(!notes.some((n) => /could not replay/.test(n)), `no lost-history notice: ${JSON.stringify(notes)}`);
    }
    await say(bob.page, 'm4 after the restart');
    await seen(alice.page, 'm4 after the restart');
    await seen(bob.page, 'm4 after the restart');
    assert.deepEqual(await chatTexts(alice.page), ['m0 before the crash', ...missed, 'm4 after the restart']);
    assert.deepEqual(await chatTexts(bob.page), ['m0 before the crash', ...missed, 'm4 after the restart']);
    for (const p of [alice, bob]) {
      assert.deepEqual(p.errors, []);
      assert.deepEqual(await p.cspViolations(), []);
    }
  });
});
