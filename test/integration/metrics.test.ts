/**
 * `GET /metrics` on a real server: the body is valid Prometheus text (checked by a small parser below), and the
 * counters, gauges and histograms move as real WebSocket, SSE and API traffic flows, slow consumers included.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { createSwitchboard, nodeOf } from '../../src/server.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { openEventSource } from '../helpers/sse-client.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { connectReady } from '../helpers/ws-client.js';

// --- A tiny Prometheus text-format (0.0.4) parser -----------------------------------------------------------------

type Labels = Record<string, string>;
interface Sample {
  name: string;
  labels: Labels;
  value: number;
}
interface Family {
  name: string;
  type: string;
  help?: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const SUFFIXES: Record<string, string[]> = { histogram: ['_bucket', '_sum', '_count'], summary: ['', '_sum', '_count'] };

/** Parses the exposition text; throws with the line number on anything malformed. */
function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  let current: Family | undefined;
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const where = `line ${i + 1}: ${JSON.stringify(line)}`;
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
      if (!m) return; // other comments (`# UNIT ...`) are allowed and ignored
      const [, kind, name, rest = ''] = m;
      assert.match(name, NAME, where);
      let fam = families.get(name);
      if (!fam) {
        fam = { name, type: 'untyped', samples: [] };
        families.set(name, fam);
      } else {
        assert.equal(fam.samples.length, 0, `${where}: ${kind} after samples of ${name}`);
      }
      if (kind === 'TYPE') {
        assert.ok(['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest), `${where}: unknown type`);
        fam.type = rest;
      } else {
        fam.help = rest;
      }
      current = fam;
      return;
    }
    const s = parseSample(line, where);
    assert.ok(current, `${where}: sample before any TYPE`);
    const allowed = (SUFFIXES[current.type] ?? ['']).map((suffix) => current!.name + suffix);
    assert.ok(allowed.includes(s.name), `${where}: sample ${s.name} outside its family ${current.name} (${current.type})`);
    const key = `${s.name}${JSON.stringify(Object.entries(s.labels).sort())}`;
    assert.ok(!seen.has(key), `${where}: duplicate series`);
    seen.add(key);
    current.samples.push(s);
  });
  for (const fam of families.values()) if (fam.type === 'histogram') checkHistogram(fam);
  return families;
}

function parseSample(line: string, where: string): Sample {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)(?: (-?\d+))?$/.exec(line);
  assert.ok(m, `${where}: not a sample line`);
  const [, name, labelText, rawValue] = m;
  const value = rawValue === '+Inf' ? Infinity : rawValue === '-Inf' ? -Infinity : rawValue === 'NaN' ? NaN : Number(rawValue);
  assert.ok(rawValue === 'NaN' || !Number.isNaN(value), `${where}: bad value ${rawValue}`);
  return { name, labels: labelText ? parseLabels(labelText.slice(1, -1), where) : {}, value };
}

function parseLabels(text: string, where: string): Labels {
  const labels: Labels = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('=', i);
    assert.ok(eq > i, `${where}: label without name`);
    const name = text.slice(i, eq);
    assert.match(name, LABEL_NAME, `${where}: label name`);
    assert.equal(text[eq + 1], '"', `${where}: label value must be quoted`);
    let value = '';
    let j = eq + 2;
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === '\\') {
        const next = text[++j];
        assert.ok(next === '\\' || next === '"' || next === 'n', `${where}: bad escape \\${next}`);
        value += next === 'n' ? '\n' : next;
      } else {
        value += text[j];
      }
    }
    assert.equal(text[j], '"', `${where}: unterminated label value`);
    assert.ok(!(name in labels), `${where}: label ${name} twice`);
    labels[name] = value;
    i = j + 1;
    if (text[i] === ',') i++;
  }
  return labels;
}

/** Buckets cumulative and non-decreasing by `le`, ending at +Inf equal to `_count`, for every label set. */
function checkHistogram(fam: Family): void {
  const groups = new Map<string, { buckets: [number, number][]; count?: number }>();
  for (const s of fam.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const g = groups.get(key) ?? { buckets: [] };
    groups.set(key, g);
    if (s.name.endsWith('_bucket')) {
      assert.ok(le !== undefined, `${fam.name}: bucket without le`);
      g.buckets.push([le === '+Inf' ? Infinity : Number(le), s.value]);
    } else if (s.name.endsWith('_count')) {
      g.count = s.value;
    }
  }
  for (const [key, g] of groups) {
    const bounds = g.buckets.map(([b]) => b);
    assert.deepEqual(bounds, [...bounds].sort((a, b) => a - b), `${fam.name}${key}: le not ascending`);
    assert.equal(bounds.at(-1), Infinity, `${fam.name}${key}: no +Inf bucket`);
    for (let k = 1; k < g.buckets.length; k++) assert.ok(g.buckets[k][1] >= g.buckets[k - 1][1], `${fam.name}${key}: buckets not cumulative`);
    assert.equal(g.buckets.at(-1)![1], g.count, `${fam.name}${key}: +Inf bucket differs from _count`);
  }
}

// --- Scraping helpers ---------------------------------------------------------------------------------------------

interface Scrape {
  families: Map<string, Family>;
  /** Sum of the samples named `name` whose labels include `labels`; undefined when there is none. */
  value(name: string, labels?: Labels): number | undefined;
  samples(name: string, labels?: Labels): Sample[];
}

async function scrape(srv: TestServer): Promise<Scrape> {
  const res = await fetch(`${srv.url}/metrics`);
  assert.equal(res.status, 200);
  const families = parsePrometheus(await res.text());
  const samples = (name: string, labels: Labels = {}) => {
    const out: Sample[] = [];
    for (const fam of families.values()) {
      for (const s of fam.samples) if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) out.push(s);
    }
    return out;
  };
  return {
    families,
    samples,
    value(name, labels) {
      const found = samples(name, labels);
      return found.length === 0 ? undefined : found.reduce((a, s) => a + s.value, 0);
    },
  };
}

/** Scrapes until `check` holds (counters are read on scrape, and the server counts a close when it sees it). */
async function scrapeUntil(srv: TestServer, label: string, check: (s: Scrape) => boolean): Promise<Scrape> {
  let last: Scrape | undefined;
  return waitFor(async () => {
    last = await scrape(srv);
    return check(last) ? last : undefined;
  }, { label, interval: 20, describe: () => (last ? summarize(last) : 'no scrape yet') });
}

function summarize(s: Scrape): string {
  const lines: string[] = [];
  for (const fam of s.families.values()) {
    if (!fam.name.startsWith('switchboard_') || fam.type === 'histogram') continue;
    for (const x of fam.samples) lines.push(`${x.name}${JSON.stringify(x.labels)}=${x.value}`);
  }
  return lines.join(' ');
}

const WS = { transport: 'websocket' };
const SSE = { transport: 'sse' };
const n = (v: number | undefined) => v ?? 0;

// --- Tests --------------------------------------------------------------------------------------------------------

describe('GET /metrics', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer();
  });
  after(() => srv.close());

  it('answers Prometheus text with the resource in target_info; other methods get 405', async () => {
    const res = await fetch(`${srv.url}/metrics`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    const text = await res.text();
    const families = parsePrometheus(text);
    const target = families.get('target_info')?.samples[0]?.labels;
    assert.equal(target?.service_name, 'switchboard');
    assert.equal(target?.service_instance_id, nodeOf(srv.sb).id);
    assert.match(target?.service_version ?? '', /^\d+\.\d+\.\d+/);
    assert.equal(families.get('switchboard_ready')?.samples[0]?.value, 1);
    // Counters carry the _total suffix and the counter type; gauges do not.
    assert.equal(families.get('switchboard_publications_total')?.type, 'counter');
    assert.equal(families.get('switchboard_connections_active')?.type, 'gauge');
    assert.ok(!text.includes('otel_scope_name'), 'no scope label on every series');

    const head = await fetch(`${srv.url}/metrics`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    const post = await fetch(`${srv.url}/metrics`, { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
  });

  it('reports zero series for known transports before any traffic', async () => {
    const s = await scrape(srv);
    for (const name of ['switchboard_connections_active', 'switchboard_connections_total', 'switchboard_messages_sent_total', 'switchboard_bytes_sent_total']) {
      assert.notEqual(s.value(name, SSE), undefined, `${name}{transport="sse"}`);
      assert.notEqual(s.value(name, WS), undefined, `${name}{transport="websocket"}`);
    }
    assert.notEqual(s.value('switchboard_broker_errors_total', { operation: 'publish' }), undefined);
  });

  it('counts WebSocket connects, commands, publications, deliveries, messages and disconnects with their code', async () => {
    const before = await scrape(srv);
    const { client } = await connectReady(`${srv.wsUrl}?user=metrics-alice`);
    srv.track(client);
    await client.call('subscribe', { channel: 'metrics:room' });

    const connected = await scrape(srv);
    assert.equal(n(connected.value('switchboard_connections_total', WS)) - n(before.value('switchboard_connections_total', WS)), 1);
    assert.equal(connected.value('switchboard_connections_active', WS), 1);
    assert.equal(connected.value('ws_connections_active'), 1);
    assert.equal(connected.value('websocket_active_connections'), 1);
    assert.equal(connected.value('switchboard_users'), 1);
    assert.equal(connected.value('switchboard_channels'), 1);
    assert.equal(connected.value('switchboard_subscriptions'), 1);
    assert.equal(n(connected.value('switchboard_commands_total', { method: 'subscribe', outcome: 'ok' })) - n(before.value('switchboard_commands_total', { method: 'subscribe', outcome: 'ok' })), 1);
    assert.ok(n(connected.value('ws_messages_received_total')) >= 1);
    assert.ok(n(connected.value('switchboard_bytes_received_total', WS)) > 0);

    for (let i = 1; i <= 3; i++) await srv.publish('metrics:room', { i });
    for (let i = 1; i <= 3; i++) await client.nextPush((m) => m.push === 'publication' && m.payload?.i === i);
    const published = await scrape(srv);
    const delta = (name: string, labels?: Labels) => n(published.value(name, labels)) - n(connected.value(name, labels));
    assert.equal(delta('switchboard_publications_total'), 3);
    assert.equal(delta('switchboard_deliveries_total'), 3);
    assert.equal(delta('switchboard_publication_encodings_total', { format: 'wsFrame' }), 3, 'one frame per publication');
    assert.equal(delta('switchboard_publication_encodings_total', { format: 'json' }), 3);
    assert.ok(delta('switchboard_messages_sent_total', WS) >= 3);
    assert.ok(delta('ws_messages_sent_total') >= 3);
    assert.ok(delta('switchboard_bytes_sent_total', WS) > 3 * 20, 'bytes of three publication frames');
    assert.equal(delta('switchboard_api_requests_total', { http_request_method: 'POST', http_route: '/api/publish', http_response_status_code: '200' }), 3);
    assert.equal(n(published.value('switchboard_history_publications')) >= 3, true);
    assert.ok(n(published.value('switchboard_history_channels')) >= 1);

    // A command the server refuses is counted with its error code as the outcome.
    const again = await client.request('subscribe', { channel: 'metrics:room' });
    assert.equal(again.error?.code, 'already_subscribed');
    const refused = await scrape(srv);
    assert.equal(refused.value('switchboard_commands_total', { method: 'subscribe', outcome: 'already_subscribed' }), 1);

    await client.close(1000);
    const closed = await scrapeUntil(srv, 'the disconnect to be counted', (s) => s.value('switchboard_connections_active', WS) === 0);
    assert.equal(n(closed.value('switchboard_disconnections_total', { transport: 'websocket', code: '1000' })) - n(before.value('switchboard_disconnections_total', { transport: 'websocket', code: '1000' })), 1);
    assert.equal(closed.value('ws_connections_active'), 0);
    assert.equal(closed.value('switchboard_users'), 0);
    assert.equal(closed.value('switchboard_subscriptions'), 0);
  });

  it('counts SSE connections and messages under transport="sse"', async () => {
    const before = await scrape(srv);
    const es = srv.track(openEventSource(`${srv.url}/events?channel=metrics:sse&user=metrics-sse`));
    await es.nextJson('connected');
    await srv.publish('metrics:sse', { hello: 'sse' });
    await es.nextJson('message');
    const s = await scrapeUntil(srv, 'an SSE connection', (x) => x.value('switchboard_connections_active', SSE) === 1);
    assert.equal(n(s.value('switchboard_connections_total', SSE)) - n(before.value('switchboard_connections_total', SSE)), 1);
    assert.ok(n(s.value('switchboard_messages_sent_total', SSE)) - n(before.value('switchboard_messages_sent_total', SSE)) >= 2, 'connected + message');
    assert.ok(n(s.value('switchboard_bytes_sent_total', SSE)) > n(before.value('switchboard_bytes_sent_total', SSE)));
    assert.equal(s.value('ws_connections_active'), 0, 'SSE is not counted as WebSocket');
    es.close();
    await scrapeUntil(srv, 'the SSE stream to end', (x) => x.value('switchboard_connections_active', SSE) === 0 && n(x.value('switchboard_disconnections_total', SSE)) >= 1);
  });

  it('counts resumes: recovered, and failed with a reason', async () => {
    const before = await scrape(srv);
    const pos = await srv.publish('metrics:resume', 'one');
    await srv.publish('metrics:resume', 'two');
    const { client } = await connectReady(srv.wsUrl);
    srv.track(client);
    const ok = await client.call('subscribe', { channel: 'metrics:resume', since: { epoch: pos.epoch, offset: pos.offset } });
    assert.equal(ok.recovered, true);
    const failed = await client.call('subscribe', { channel: 'metrics:resume2', since: { epoch: 'deadbeef', offset: 1 } });
    assert.equal(failed.recovered, false);
    const s = await scrape(srv);
    const delta = (labels: Labels) => n(s.value('switchboard_recoveries_total', labels)) - n(before.value('switchboard_recoveries_total', labels));
    assert.equal(delta({ outcome: 'recovered' }), 1);
    assert.equal(delta({ outcome: 'failed', reason: failed.reason }), 1);
    await client.close();
  });

  it('exposes the histograms with their buckets', async () => {
    const { client } = await connectReady(srv.wsUrl);
    srv.track(client);
    await client.call('subscribe', { channel: 'metrics:hist' });
    await srv.publish('metrics:hist', 'x');
    await client.nextPush((m) => m.push === 'publication');
    const s = await scrapeUntil(srv, 'publish-to-write recorded', (x) => n(x.value('switchboard_publish_to_write_duration_count')) >= 1);
    const seconds = ['0.0001', '0.0005', '0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf'];
    for (const [name, labels, bounds] of [
      ['switchboard_publish_to_write_duration', {}, seconds],
      ['switchboard_broker_duration', { operation: 'publish' }, seconds],
      ['switchboard_api_request_duration', { http_route: '/api/publish' }, seconds],
      ['switchboard_fanout_size', {}, ['1', '2', '5', '10', '25', '50', '100', '250', '500', '1000', '2500', '5000', '10000', '25000', '100000', '+Inf']],
    ] as [string, Labels, string[]][]) {
      assert.equal(s.families.get(name)?.type, 'histogram', name);
      const les = [...new Set(s.samples(`${name}_bucket`, labels).map((b) => b.labels.le))];
      assert.deepEqual(les, bounds, `${name} buckets`);
      assert.ok(n(s.value(`${name}_count`, labels)) >= 1, `${name}_count`);
      assert.ok(n(s.value(`${name}_sum`, labels)) > 0, `${name}_sum`);
    }
    // One recipient: the fan-out histogram's first bucket (le="1") holds the last publication.
    assert.ok(n(s.value('switchboard_fanout_size_bucket', { le: '1' })) >= 1);
    await client.close();
  });

  it('exposes process and event-loop metrics, the delay gauges reset after each collection', async () => {
    const s = await scrape(srv);
    for (const name of ['nodejs_eventloop_delay_p50', 'nodejs_eventloop_delay_p99', 'nodejs_eventloop_delay_max', 'nodejs_eventloop_utilization', 'process_memory_usage', 'process_uptime']) {
      assert.equal(s.families.get(name)?.type, 'gauge', name);
      const v = s.value(name);
      assert.ok(v !== undefined && v >= 0 && Number.isFinite(v), `${name}=${v}`);
    }
    assert.ok(n(s.value('nodejs_eventloop_delay_p99')) < 10, 'seconds, not nanoseconds');
    assert.ok(n(s.value('process_cpu_time_total', { cpu_mode: 'user' })) > 0);
    assert.notEqual(s.value('process_cpu_time_total', { cpu_mode: 'system' }), undefined);
    assert.ok(n(s.value('process_memory_usage')) > 1e6, 'RSS in bytes');
    assert.ok(n(s.value('v8js_memory_heap_used')) > 1e6, 'heap used in bytes (all spaces)');
    assert.ok(n(s.value('v8js_memory_heap_space_size')) >= n(s.value('v8js_memory_heap_used')));
    if (existsSync('/proc/self/fd')) assert.ok(n(s.value('process_unix_file_descriptor_count')) > 3);

    // Block this process (the server's event loop) for 150 ms: the next collection sees it... (Not at once after a
    // collection: Node's histogram reset() drops the interval up to its first 20 ms tick, so wait past it first.)
    await sleep(60);
    const start = Date.now();
    while (Date.now() - start < 150) {
      /* busy */
    }
    await sleep(50);
    const blocked = await scrape(srv);
    assert.ok(n(blocked.value('nodejs_eventloop_delay_max')) >= 0.15, `max ${blocked.value('nodejs_eventloop_delay_max')}`);
    // ...and the one after it, over an idle interval, no longer does.
    await sleep(200);
    const idle = await scrape(srv);
    assert.ok(n(idle.value('nodejs_eventloop_delay_max')) < 0.15, `max ${idle.value('nodejs_eventloop_delay_max')}`);
  });
});

describe('GET /metrics: slow consumer', () => {
  const QUEUE = 65536;
  const PAD = 'x'.repeat(1000);
  /** Kernel socket buffers absorb a few MB before the server queue fills (see e2e-slow-consumer.test.ts). */
  const MAX_COUNT = 16_000;
  let srv: TestServer;
  before(async () => {
    srv = await startServer(['--client.queueMaxBytes', String(QUEUE)]);
  });
  after(() => srv.close());

  it('counts the drop, the slow disconnect and close code 4001', async () => {
    const before = await scrape(srv);
    const { client: slow } = await connectReady(`${srv.wsUrl}?user=metrics-slow`);
    srv.track(slow);
    await slow.call('subscribe', { channel: 'metrics:firehose' });
    slow.socket.pause(); // stops reading: the kernel buffers fill, then the server's queue
    let published = 0;
    while (published < MAX_COUNT && nodeOf(srv.sb).hub.connectionsOf('metrics-slow') > 0) {
      await srv.sb.publish('metrics:firehose', { n: ++published, pad: PAD });
      if (published % 50 === 0) await sleep(1); // let the writes reach the socket
    }
    assert.equal(nodeOf(srv.sb).hub.connectionsOf('metrics-slow'), 0, `still connected after ${published} publications`);

    const s = await scrapeUntil(srv, 'the slow disconnect', (x) => n(x.value('switchboard_slow_disconnects_total')) > n(before.value('switchboard_slow_disconnects_total')));
    assert.equal(n(s.value('switchboard_slow_disconnects_total')) - n(before.value('switchboard_slow_disconnects_total')), 1);
    assert.ok(n(s.value('switchboard_drops_total')) - n(before.value('switchboard_drops_total')) >= 1);
    assert.equal(n(s.value('switchboard_disconnections_total', { transport: 'websocket', code: '4001' })), 1);
    assert.equal(s.value('switchboard_connections_active', WS), 0);
    slow.socket.resume();
    assert.equal((await slow.waitClosed(5000)).code, 4001);
  });
});

describe('OTLP metrics push', () => {
  /** Records every request with its raw body (OTLP JSON; searching it for names is enough here). */
  let receiver: Server;
  let url: string;
  const received: { path: string; contentType: string; body: Buffer }[] = [];
  before(async () => {
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ path: req.url ?? '', contentType: String(req.headers['content-type']), body: Buffer.concat(chunks) });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => receiver.close(() => resolve())));

  const start = async (env: Record<string, string>) => {
    const sb = createSwitchboard({ config: loadConfig({ argv: ['--port', '0', '--host', '127.0.0.1', '--log-level', 'silent'] }), env });
    await sb.listen();
    return sb;
  };

  it('pushes the same instruments to OTEL_EXPORTER_OTLP_METRICS_ENDPOINT every interval and once more on shutdown', async () => {
    received.length = 0;
    const sb = await start({ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${url}/v1/metrics`, OTEL_METRIC_EXPORT_INTERVAL: '200', OTEL_SERVICE_NAME: 'switchboard-push-test' });
    let periodic = 0;
    try {
      await sb.publish('metrics:push', 'x');
      await waitFor(() => received.length >= 1, { label: 'a periodic push', timeout: 5000 });
      periodic = received.length;
    } finally {
      await sb.shutdown();
    }
    assert.ok(received.length > periodic, 'a last push on shutdown');
    const last = received.at(-1)!;
    assert.equal(last.path, '/v1/metrics');
    assert.equal(last.contentType, 'application/json'); // exporter-metrics-otlp-http speaks OTLP/HTTP JSON
    for (const text of ['switchboard.publications', 'switchboard.connections.active', 'nodejs.eventloop.delay.p99', 'switchboard-push-test', nodeOf(sb).id]) {
      assert.ok(last.body.includes(Buffer.from(text)), `push carries ${text}`);
    }
  });

  it('does not push with OTEL_METRICS_EXPORTER=none or OTEL_SDK_DISABLED=true, even with an endpoint (not even on shutdown)', async () => {
    for (const env of [{ OTEL_METRICS_EXPORTER: 'none' }, { OTEL_METRICS_EXPORTER: 'prometheus' }, { OTEL_SDK_DISABLED: 'true' }] as Record<string, string>[]) {
      received.length = 0;
      const sb = await start({ ...env, OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${url}/v1/metrics`, OTEL_METRIC_EXPORT_INTERVAL: '100' });
      await sb.publish('metrics:push', 'x');
      await sb.shutdown(); // a push reader would flush here
      assert.equal(received.length, 0, JSON.stringify(env));
    }
  });
});
