/**
 * Why Switchboard serves HTTP/2 itself: Chromium opens at most 6 HTTP/1.1 connections per origin, so a page with
 * 10 EventSource streams gets 6 and the other 4 wait; over HTTP/2 all 10 share one connection and all receive.
 * Both servers use TLS with a self-signed certificate made by the test (openssl CLI); the browser context trusts it
 * with playwright's `ignoreHTTPSErrors` (CDP Security.setIgnoreCertificateErrors). The HTTP/2 page also opens a
 * WebSocket to the same origin: Chromium sends it over HTTP/1.1 (Switchboard offers no RFC 8441 WebSocket over
 * HTTP/2) on the same TLS port.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { browserSkip, launchBrowser } from '../helpers/browser.js';
import { makeCertificate, startTlsServer, tempDir, type TlsServer } from '../helpers/tls.js';
import { sleep } from '../helpers/wait.js';

// Functions passed to the page run in the browser; the test program is compiled without DOM types.
declare const window: any;
declare const performance: any;
declare const EventSource: any;
declare const WebSocket: any;

const STREAMS = 10;

/** Opens STREAMS EventSources to `channel` on the page's origin; counts `connected` and publication events. */
function openStreams(page: Page, channel: string): Promise<void> {
  return page.evaluate(({ n, ch }) => {
    const w = window as { __sse: { opened: number; received: number } };
    w.__sse = { opened: 0, received: 0 };
    for (let i = 0; i < n; i++) {
      const es = new EventSource(`/events?channel=${ch}&user=u${i}`);
      es.addEventListener('connected', () => w.__sse.opened++);
      es.addEventListener('message', () => w.__sse.received++);
    }
  }, { n: STREAMS, ch: channel });
}

const counts = (page: Page): Promise<{ opened: number; received: number }> => page.evaluate(() => (window as { __sse: { opened: number; received: number } }).__sse);
const protocol = (page: Page): Promise<string> => page.evaluate(() => String(performance.getEntriesByType('navigation')[0].nextHopProtocol));

describe('10 EventSource streams in Chromium: HTTP/2 versus HTTP/1.1', { skip: browserSkip() }, () => {
  const tmp = tempDir();
  let browser: Browser;
  let h2: TlsServer;
  let h1: TlsServer;
  before(async () => {
    const cert = makeCertificate(tmp.dir, 'localhost');
    h2 = await startTlsServer(cert, ['--sse.heartbeatInterval', '1h']);
    h1 = await startTlsServer(cert, ['--sse.heartbeatInterval', '1h', '--http2.enabled', 'false']);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await h2?.sb.shutdown();
    await h1?.sb.shutdown();
    tmp.remove();
  });

  const openPage = async (url: string) => {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    await page.goto(`${url}/healthz`);
    return { page, close: () => context.close() };
  };

  it('over HTTP/2 all 10 streams open and receive a publication, and a WebSocket works on the same port', async () => {
    const { page, close } = await openPage(h2.url);
    try {
      assert.equal(await protocol(page), 'h2');
      await openStreams(page, 'ten');
      await page.waitForFunction((n) => (window as { __sse: { opened: number } }).__sse.opened === n, STREAMS);
      await h2.sb.publish('ten', { hello: 'all' });
      await page.waitForFunction((n) => (window as { __sse: { received: number } }).__sse.received === n, STREAMS);

      // WebSocket: Chromium opens an HTTP/1.1 connection for it (no WebSocket over HTTP/2 offered), same TLS port.
      await page.evaluate(() => {
        const w = window as { __ws: { subscribed: boolean; payload?: unknown; error?: string } };
        w.__ws = { subscribed: false };
        const ws = new WebSocket(`wss://${window.location.host}/ws?user=wss`);
        ws.onerror = () => (w.__ws.error = 'websocket error');
        ws.onopen = () => ws.send(JSON.stringify({ id: 1, method: 'subscribe', params: { channel: 'ten' } }));
        ws.onmessage = (e: { data: string }) => {
          const m = JSON.parse(e.data) as { id?: number; push?: string; payload?: unknown };
          if (m.id === 1) w.__ws.subscribed = true;
          if (m.push === 'publication') w.__ws.payload = m.payload;
        };
      });
      await page.waitForFunction(() => (window as { __ws: { subscribed: boolean; error?: string } }).__ws.subscribed || (window as { __ws: { error?: string } }).__ws.error);
      await h2.sb.publish('ten', { over: 'wss' });
      const ws = await page.waitForFunction(() => { const s = (window as { __ws: { payload?: unknown; error?: string } }).__ws; return s.payload ?? s.error; });
      assert.deepEqual(await ws.jsonValue(), { over: 'wss' });
    } finally {
      await close();
    }
  });

  it('over HTTP/1.1 (the same TLS server without h2) only 6 streams open and receive: the other 4 stall', async () => {
    const { page, close } = await openPage(h1.url);
    try {
      assert.equal(await protocol(page), 'http/1.1');
      await openStreams(page, 'six');
      await page.waitForFunction(() => (window as { __sse: { opened: number } }).__sse.opened >= 6);
      await sleep(1500); // time for the other 4 to open, were they not stalled
      assert.equal((await counts(page)).opened, 6);
      await h1.sb.publish('six', { hello: 'some' });
      await page.waitForFunction(() => (window as { __sse: { received: number } }).__sse.received >= 6);
      await sleep(500);
      assert.deepEqual(await counts(page), { opened: 6, received: 6 });
    } finally {
      await close();
    }
  });
});
