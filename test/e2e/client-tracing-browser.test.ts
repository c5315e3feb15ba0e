/**
 * Client spans in chromium: a page (served from its own origin) imports the SDK bundle the server serves
 * (`/switchboard.min.js`) and an esbuild bundle of the real OpenTelemetry browser SDK with `otelTracing`
 * (test/helpers/browser-otel-page.ts). It subscribes over WebSocket and SSE; a publish through the server API then
 * shows up in one trace at a loopback OTLP receiver: the server's API request, `event_stream.publish`,
 * `hub.broadcast` and writes, and the browser's `websocket.receive` and `sse.receive` under the publish span, each
 * the parent of the span the page's listener starts.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Browser } from 'playwright-core';
import { browserSuite, ensureClientBundleBuilt, launchBrowser, openPage, type TestPage } from '../helpers/browser.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.js';
import { startTracedServer, type TracedServer } from '../helpers/traced-server.js';
import { waitFor } from '../helpers/wait.js';

// Functions passed to the page run in the browser; the test program is compiled without DOM types.
declare const window: any;

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PAGE_SERVICE = 'browser-page';

/** The page: both clients, traced, on the channel in the query; it reports through `window.__t`. */
function pageHtml(sb: TracedServer): string {
  return `<!doctype html><meta charset="utf-8"><title>client tracing</title>
<script type="module">
  import { createClient, createSseClient } from '${sb.url}/switchboard.min.js';
  import { startTracing } from '/otel-page.js';
  const q = new URLSearchParams(location.search);
  const { tracing, flush, appSpan } = startTracing(q.get('otlp'), '${PAGE_SERVICE}');
  const t = (window.__t = { received: [], flush, clients: {} });
  const ws = createClient({ url: '${sb.wsUrl}', params: { user: 'browser-ws' }, tracing });
  const sse = createSseClient({ url: '${sb.url}/events', params: { user: 'browser-sse' }, tracing });
  for (const [name, c] of [['ws', ws], ['sse', sse]]) {
    const sub = c.subscribe(q.get('channel'));
    sub.on('publication', (p) => {
      t.received.push(name);
      appSpan('app.render.' + name);
    });
    c.connect();
    await sub.ready();
    t.clients[name] = c.info.client;
  }
  t.ready = true;
</script>`;
}

browserSuite('client tracing in chromium', ({ it, before, after }) => {
  let browser: Browser;
  let receiver: OtlpReceiver;
  let sb: TracedServer;
  let site: Server;
  let page: TestPage | undefined;

  before(async () => {
    ensureClientBundleBuilt();
    const bundle = await build({
      entryPoints: [`${ROOT}test/helpers/browser-otel-page.ts`],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      write: false,
      logLevel: 'warning',
    });
    const otelPage = bundle.outputFiles[0]!.text;
    receiver = await startOtlpReceiver();
    let html = '';
    site = createServer((req, res) => {
      if ((req.url ?? '').startsWith('/otel-page.js')) res.writeHead(200, { 'content-type': 'text/javascript' }).end(otelPage);
      else res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
    });
    site.listen(0, '127.0.0.1');
    await once(site, 'listening');
    const origin = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
    // The page's SSE fetch (with a traceparent header) is cross-origin: the server must list the page's origin.
    sb = await startTracedServer(receiver.url, ['--cors.origins', origin]);
    html = pageHtml(sb);
    browser = await launchBrowser();
  });
  after(async () => {
    await page?.close().catch(() => {});
    await browser?.close();
    site?.close();
    await sb?.close();
    await receiver?.close();
  });

  it('a publish through the server API and its receive spans in the page form one trace', async () => {
    const channel = `browser-trace-${Date.now()}`;
    const origin = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
    page = await openPage(browser, `${origin}/?channel=${channel}&otlp=${encodeURIComponent(receiver.url)}`);
    await page.page.waitForFunction(() => window.__t?.ready === true);
    const clients = (await page.page.evaluate(() => window.__t.clients)) as { ws: string; sse: string };

    const t = await sb.publish(channel, { text: 'to the browser' });
    await page.page.waitForFunction(() => window.__t.received.length === 2);
    await page.page.evaluate(() => window.__t.flush());

    const names = ['POST /api/publish', 'event_stream.publish', 'hub.broadcast', 'websocket.write_message', 'sse.send_message', 'websocket.receive', 'sse.receive', 'app.render.ws', 'app.render.sse'];
    const spans = await waitFor(() => {
      const mine = receiver.spans().filter((s) => s.traceId === t.traceId);
      return names.every((n) => mine.some((s) => s.name === n)) && mine;
    }, { timeout: 15_000, label: `trace ${t.traceId}`, describe: () => list(receiver.spans().filter((s) => s.traceId === t.traceId)) });
    const one = (name: string) => {
      const found = spans.filter((s) => s.name === name);
      assert.equal(found.length, 1, `one ${name} in ${list(spans)}`);
      return found[0]!;
    };
    const publish = one('event_stream.publish');
    assert.equal(publish.parentSpanId, one('POST /api/publish').spanId);
    const broadcast = one('hub.broadcast');
    assert.equal(broadcast.parentSpanId, publish.spanId);
    assert.equal(one('websocket.write_message').attributes['client.id'], clients.ws);
    assert.equal(one('sse.send_message').attributes['client.id'], clients.sse);
    for (const [name, client, app] of [['websocket.receive', clients.ws, 'app.render.ws'], ['sse.receive', clients.sse, 'app.render.sse']] as const) {
      const receive = one(name);
      // The page's listener ran inside the receive span: a span it starts there is the receive span's child.
      assert.equal(one(app).parentSpanId, receive.spanId, `${app} under ${name}`);
      assert.equal(receive.resource['service.name'], PAGE_SERVICE, `${name} exported by the page`);
      assert.equal(receive.parentSpanId, publish.spanId, `${name} under event_stream.publish`);
      assert.equal(receive.kind, 5);
      assert.equal(receive.attributes['client.id'], client);
      assert.equal(receive.attributes['messaging.message.id'], `${t.epoch}:${t.offset}`);
    }
    // The page's connect spans arrived too (the browser WebSocket cannot send a traceparent header; SSE over fetch does).
    const pageSpans = receiver.spans().filter((s) => s.resource['service.name'] === PAGE_SERVICE);
    assert.ok(pageSpans.some((s) => s.name === 'websocket.connect' && s.attributes['client.id'] === clients.ws));
    const sseConnect = pageSpans.find((s) => s.name === 'sse.connect' && s.attributes['client.id'] === clients.sse)!;
    assert.ok(sseConnect);
    assert.ok(receiver.spans().some((s) => s.name === 'sse.connect' && s.kind === 2 && s.parentSpanId === sseConnect.spanId), 'server sse.connect under the page\'s');
    assert.deepEqual(receiver.requests.filter((r) => r.error !== undefined).map((r) => r.error), []);
    assert.deepEqual(page.errors, []);
  });
});

function list(spans: ReceivedSpan[]): string {
  return spans.map((s) => `${s.name}[${s.resource['service.name']}](${s.spanId}<-${s.parentSpanId})`).join(', ');
}
