/**
 * The operations artifacts in deploy/ and docs/operations.md against a real server: every metric (and label) the
 * Grafana dashboard and the alert rules query exists in a real `/metrics` scrape, the metrics table in the docs
 * matches the scrape both ways, the YAML and JSON parse, and the Kubernetes manifests point at real endpoints,
 * ports and options.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { loadConfig, type Config } from '../../src/config/index.js';
import { createSwitchboard, type Switchboard, nodeOf } from '../../src/server.js';
import { waitFor } from '../helpers/wait.js';
import { connectReady } from '../helpers/ws-client.js';
import { openEventSource } from '../helpers/sse-client.js';
import { mintHs256 } from '../helpers/tokens.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(root + path, 'utf8');

// --- PromQL: metric and label names -------------------------------------------------------------------------------

/** Words that may appear bare in an expression without being metrics. */
const PROMQL_KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan', 'Inf', 'NaN']);
/** Labels Prometheus adds to every scraped series, and the histogram bucket label. */
const TARGET_LABELS = new Set(['instance', 'job', 'le']);
/** Series Prometheus makes itself; never in a scrape. */
const SYNTHETIC_METRICS = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped']);

interface ExprNames {
  metrics: Set<string>;
  labels: Set<string>;
}

/** Metric names and label names of one PromQL expression (or a Grafana `label_values(metric, label)` query). */
function namesIn(expr: string): ExprNames {
  const labels = new Set<string>();
  let e = expr.replace(/\$\{?[A-Za-z_]\w*\}?/g, '0'); // Grafana variables: $node, $__rate_interval
  e = e.replace(/label_values\(\s*([a-zA-Z_:][\w:]*)\s*,\s*([a-zA-Z_]\w*)\s*\)/g, (_m, metric: string, label: string) => {
    labels.add(label);
    return metric;
  });
  e = e.replace(/\{([^}]*)\}/g, (_m, body: string) => {
    for (const m of body.matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g)) labels.add(m[1]);
    return '';
  });
  e = e.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/\[[^\]]*\]/g, '');
  e = e.replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_m, list: string) => {
    for (const l of list.split(',').map((s) => s.trim()).filter(Boolean)) labels.add(l);
    return '';
  });
  const metrics = new Set<string>();
  for (const m of e.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const start = m.index;
    if (start > 0 && /[0-9.]/.test(e[start - 1])) continue; // the exponent of 1e6, a unit of 5m
    if (e.slice(start + m[0].length).trimStart().startsWith('(')) continue; // a function or aggregation
    if (PROMQL_KEYWORDS.has(m[0])) continue;
    metrics.add(m[0]);
  }
  return { metrics, labels };
}

/** Labels a Grafana legend uses: `{{instance}} {{transport}}`. */
function legendLabels(legend: string | undefined): string[] {
  return [...(legend ?? '').matchAll(/\{\{\s*([a-zA-Z_]\w*)\s*\}\}/g)].map((m) => m[1]);
}

// --- Scrape -------------------------------------------------------------------------------------------------------

interface Scraped {
  /** Family name (`# TYPE` line) → type. */
  types: Map<string, string>;
  /** Family name → label names seen on its samples. */
  labels: Map<string, Set<string>>;
  text: string;
}

function familyOf(sample: string, types: Map<string, string>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    const base = sample.slice(0, -suffix.length);
    if (sample.endsWith(suffix) && types.get(base) === 'histogram') return base;
  }
  return sample;
}

async function scrape(url: string): Promise<Scraped> {
  const res = await fetch(url);
  assert.equal(res.status, 200);
  const text = await res.text();
  const types = new Map<string, string>();
  const labels = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (t) types.set(t[1], t[2]);
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$/.exec(line);
    assert.ok(m, `malformed sample line: ${line}`);
    const fam = familyOf(m[1], types);
    assert.ok(types.has(fam), `sample ${m[1]} without a TYPE`);
    const set = labels.get(fam) ?? new Set<string>();
    labels.set(fam, set);
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="(?:[^"\\]|\\.)*"/g)) set.add(l[1]);
  }
  return { types, labels, text };
}

/** Checks one expression's metrics and labels against the scrape; returns the metric names it found. */
function checkExpr(where: string, expr: string, scraped: Scraped, extraLabels: string[] = []): string[] {
  const { metrics, labels } = namesIn(expr);
  assert.ok(metrics.size > 0, `${where}: no metric found in ${expr}`);
  const families: string[] = [];
  for (const name of metrics) {
    if (SYNTHETIC_METRICS.has(name)) continue;
    const fam = familyOf(name, scraped.types);
    assert.ok(scraped.labels.has(fam) && (fam === name || scraped.types.get(fam) === 'histogram'), `${where}: metric ${name} is not in the /metrics scrape (expr: ${expr})`);
    families.push(fam);
  }
  for (const label of [...labels, ...extraLabels]) {
    if (TARGET_LABELS.has(label)) continue;
    assert.ok(families.some((f) => scraped.labels.get(f)!.has(label)), `${where}: label ${label} is on none of ${families.join(', ')} (expr: ${expr})`);
  }
  return families;
}

// --- Kubernetes manifest helpers ------------------------------------------------------------------------------------

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } };
}

/** The container's environment as the kubelet would build it: secrets and fields filled in, `$(VAR)` expanded. */
function containerEnv(vars: EnvVar[], secrets: Record<string, string>, fields: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const v of vars) {
    let value: string | undefined;
    if (v.value !== undefined) value = String(v.value).replace(/\$\(([A-Za-z_]\w*)\)/g, (m, name: string) => env[name] ?? m);
    else if (v.valueFrom?.secretKeyRef) value = secrets[`${v.valueFrom.secretKeyRef.name}/${v.valueFrom.secretKeyRef.key}`];
    else if (v.valueFrom?.fieldRef) value = fields[v.valueFrom.fieldRef.fieldPath];
    assert.ok(value !== undefined, `env ${v.name}: no value`);
    env[v.name] = value;
  }
  return env;
}

const durationSeconds = (ms: number) => ms / 1000;

// --- Tests --------------------------------------------------------------------------------------------------------

describe('deploy/ and docs/operations.md against a real server', () => {
  const dashboard = JSON.parse(read('deploy/grafana/switchboard.json')) as any;
  const alerts = parseYaml(read('deploy/prometheus/alerts.yml')) as any;
  const deployment = parseYaml(read('deploy/kubernetes/deployment.yaml')) as any;
  const service = parseYaml(read('deploy/kubernetes/service.yaml')) as any;
  const pod = deployment.spec.template;
  const container = pod.spec.containers[0];
  const API_KEY = 'deploy-test-key';
  const env = containerEnv(container.env, { 'switchboard/api-key': API_KEY, 'switchboard/jwt-secret': 'deploy-test-jwt-secret-0123456789abcdef' }, { 'metadata.name': 'switchboard-7d9f-abcde', 'metadata.namespace': 'realtime' });
  /** `node dist/cli/main.js serve <args>`: the args after `serve`. */
  const serveArgs = (container.command as string[]).slice(3);
  /** The config the container would run with. */
  const podConfig: Config = loadConfig({ argv: serveArgs, env });

  let sb: Switchboard;
  let base: string;
  let scraped: Scraped;

  before(async () => {
    // The pod's own options and environment, on loopback and a free port.
    const config = loadConfig({ argv: [...serveArgs, '--host', '127.0.0.1', '--port', '0', '--log-level', 'silent'], env });
    sb = createSwitchboard({ config, env });
    const { port } = await sb.listen();
    base = `http://127.0.0.1:${port}`;

    // A little of every kind of traffic, so every series the dashboard and alerts use exists.
    const api = (path: string, body: unknown) =>
      fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': API_KEY }, body: JSON.stringify(body) });
    const wsUrl = `ws://127.0.0.1:${port}${config.websocket.path}`;
    // The pod authenticates clients with the JWT secret from its Secret.
    const token = (sub: string) => mintHs256('deploy-test-jwt-secret-0123456789abcdef', { sub });
    const { client } = await connectReady(`${wsUrl}?token=${await token('ops')}`);
    const sub = await client.call('subscribe', { channel: 'ops' });
    const es = openEventSource(`${base}${config.sse.path}?channel=ops&token=${await token('ops-sse')}`);
    await es.nextJson('connected');
    assert.equal((await api('/api/publish', { channel: 'ops', data: { hello: 1 } })).status, 200);
    await client.nextPush((m) => m.push === 'publication');
    await es.nextJson('message');
    assert.equal((await fetch(`${base}/api/stats`)).status, 401, 'the API key from the Secret is in force');
    const { client: resumer } = await connectReady(`${wsUrl}?token=${await token('resumer')}`);
    await resumer.call('subscribe', { channel: 'ops', since: { epoch: sub.epoch, offset: 0 } });
    await resumer.call('subscribe', { channel: 'ops2', since: { epoch: 'gone1234', offset: 3 } });
    await resumer.close(1000);
    es.close();
    await client.close(1000);
    await waitFor(() => nodeOf(sb).hub.stats().connections === 0, { label: 'clients to leave' });
    scraped = await scrape(base + podConfig.metrics.path);
  });
  after(() => sb?.shutdown());

  it('the dashboard parses: a DS_PROMETHEUS data source variable, a node variable, unique panel ids', () => {
    const vars = dashboard.templating.list as any[];
    const ds = vars.find((v) => v.name === 'DS_PROMETHEUS');
    assert.equal(ds?.type, 'datasource');
    assert.equal(ds?.query, 'prometheus');
    const node = vars.find((v) => v.name === 'node');
    assert.equal(node?.type, 'query');
    assert.equal(node?.datasource?.uid, '${DS_PROMETHEUS}');
    const panels = dashboard.panels as any[];
    const ids = panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids unique');
    for (const p of panels.filter((x) => x.type !== 'row')) {
      assert.equal(p.datasource?.uid, '${DS_PROMETHEUS}', `${p.title}: data source`);
      assert.ok(p.targets?.length > 0, `${p.title}: no query`);
      for (const t of p.targets) assert.match(t.expr, /instance=~"\$node"/, `${p.title}: not filtered by $node: ${t.expr}`);
    }
  });

  it('every metric and label the dashboard queries exists in a real /metrics scrape', () => {
    const used = new Set<string>();
    const node = (dashboard.templating.list as any[]).find((v) => v.name === 'node');
    for (const f of checkExpr('variable node', node.query.query ?? node.definition, scraped)) used.add(f);
    for (const p of dashboard.panels as any[]) {
      for (const t of p.targets ?? []) {
        for (const f of checkExpr(`panel "${p.title}" ${t.refId}`, t.expr, scraped, legendLabels(t.legendFormat))) used.add(f);
      }
    }
    // The brief's must-haves are on it.
    for (const name of ['switchboard_connections_active', 'switchboard_disconnections_total', 'switchboard_drops_total', 'switchboard_slow_disconnects_total',
      'switchboard_fanout_size', 'switchboard_publish_to_write_duration', 'switchboard_api_requests_total', 'switchboard_api_request_duration',
      'switchboard_recoveries_total', 'switchboard_broker_errors_total', 'switchboard_broker_duration', 'nodejs_eventloop_delay_p99',
      'process_cpu_time_total', 'process_memory_usage', 'process_unix_file_descriptor_count', 'switchboard_ready']) {
      assert.ok(used.has(name), `dashboard does not show ${name}`);
    }
  });

  it('alerts.yml parses; every rule has severity, summary and description; its metrics and labels exist', () => {
    const rules = (alerts.groups as any[]).flatMap((g) => g.rules as any[]);
    assert.ok(rules.length >= 9);
    const names = new Set<string>();
    for (const r of rules) {
      assert.match(r.alert, /^Switchboard[A-Za-z0-9]+$/);
      assert.ok(!names.has(r.alert), `${r.alert} twice`);
      names.add(r.alert);
      assert.match(String(r.for), /^\d+[smh]$/, `${r.alert}: for`);
      assert.ok(['critical', 'warning'].includes(r.labels?.severity), `${r.alert}: severity`);
      assert.ok(r.annotations?.summary && r.annotations?.description, `${r.alert}: summary and description`);
      // Labels the annotations print must be on the result (here: in the expression's grouping or on its metric).
      const printed = [...`${r.annotations.summary} ${r.annotations.description}`.matchAll(/\$labels\.([a-zA-Z_]\w*)/g)].map((m) => m[1]);
      checkExpr(`alert ${r.alert}`, r.expr, scraped, printed);
    }
    for (const a of ['SwitchboardDown', 'SwitchboardNotReady', 'SwitchboardSlowConsumerDisconnects', 'SwitchboardMessageDrops', 'SwitchboardPublishToWriteLatencyHigh',
      'SwitchboardEventLoopDelayHigh', 'SwitchboardBrokerErrors', 'SwitchboardApiErrors']) {
      assert.ok(names.has(a), `missing alert ${a}`);
    }
  });

  it('docs/operations.md lists exactly the metric families a scrape has', () => {
    const doc = read('docs/operations.md');
    const documented = new Map<string, string>();
    for (const m of doc.matchAll(/^\| `([a-z_:][a-z0-9_:]*)` \| (counter|gauge|histogram) \|/gm)) documented.set(m[1], m[2]);
    const scrapedFamilies = [...scraped.labels.keys()];
    for (const fam of scrapedFamilies) assert.equal(documented.get(fam), scraped.types.get(fam), `${fam}: documented as ${documented.get(fam)}, scraped as ${scraped.types.get(fam)}`);
    for (const fam of documented.keys()) assert.ok(scraped.labels.has(fam), `${fam} is documented but not in the scrape`);
    assert.match(doc, /^## Tracing$/m, 'the tracing section stays');
  });

  it('the Deployment runs the real CLI with valid options, and its probes and scrape annotations hit real endpoints', async () => {
    assert.deepEqual(container.command.slice(0, 3), ['node', 'dist/cli/main.js', 'serve']);
    const pkg = JSON.parse(read('package.json')) as { bin: Record<string, string>; scripts: Record<string, string> };
    assert.equal(pkg.bin.switchboard, 'dist/cli/main.js');
    assert.ok(existsSync(root + 'src/cli/main.ts'), 'dist/cli/main.js is built from src/cli/main.ts');
    assert.equal(podConfig.host, '0.0.0.0');

    const ports = container.ports as { name: string; containerPort: number }[];
    const portOf = (p: string | number) => (typeof p === 'number' ? p : ports.find((x) => x.name === p)?.containerPort);
    assert.equal(portOf('http'), podConfig.port, 'containerPort is the port the server listens on');
    for (const probe of [container.livenessProbe, container.readinessProbe]) assert.equal(portOf(probe.httpGet.port), podConfig.port);
    assert.equal(container.livenessProbe.httpGet.path, '/healthz');
    assert.equal(container.readinessProbe.httpGet.path, '/readyz');

    const ann = pod.metadata.annotations as Record<string, string>;
    assert.equal(ann['prometheus.io/scrape'], 'true');
    assert.equal(Number(ann['prometheus.io/port']), podConfig.port);
    assert.equal(ann['prometheus.io/path'], podConfig.metrics.path);

    // The same paths on the running server.
    for (const path of [container.livenessProbe.httpGet.path, container.readinessProbe.httpGet.path]) {
      const res = await fetch(base + path);
      assert.equal(res.status, 200, path);
    }
    const metrics = await fetch(base + ann['prometheus.io/path']);
    assert.equal(metrics.status, 200);
    assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    // OTEL_RESOURCE_ATTRIBUTES from the manifest (with $(POD_NAME) expanded) reaches target_info.
    assert.match(scraped.text, /^target_info\{.*k8s_pod_name="switchboard-7d9f-abcde".*\} 1$/m);
    assert.match(scraped.text, /^target_info\{.*k8s_namespace_name="realtime".*\} 1$/m);
  });

  it('the grace period outlasts preStop plus shutdown.timeout', () => {
    assert.equal(env.SWITCHBOARD_SHUTDOWN_TIMEOUT, '15s');
    assert.equal(podConfig.shutdown.timeout, 15_000);
    const preStop = container.lifecycle?.preStop;
    const preStopSeconds = preStop?.sleep?.seconds ?? (preStop?.exec?.command?.[0] === 'sleep' ? Number(preStop.exec.command[1]) : 0);
    const grace = pod.spec.terminationGracePeriodSeconds as number;
    assert.ok(grace > preStopSeconds + durationSeconds(podConfig.shutdown.timeout), `grace ${grace}s <= preStop ${preStopSeconds}s + shutdown ${durationSeconds(podConfig.shutdown.timeout)}s`);
    assert.ok(container.resources?.requests?.memory && container.resources?.limits?.memory, 'memory request and limit');
  });

  it('the Deployment names the image the Dockerfile builds as the docs show, with its user, directory and command', () => {
    const { version } = JSON.parse(read('package.json')) as { version: string };
    assert.equal(container.image, `switchboard:${version}`);
    for (const doc of ['docs/operations.md', 'deploy/kubernetes/README.md']) {
      assert.ok(read(doc).includes(`docker build -t switchboard:${version} .`), `${doc} shows how to build switchboard:${version}`);
    }
    const dockerfile = read('Dockerfile');
    const last = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    const directive = (name: string) => last.match(new RegExp(`^${name} (.+)$`, 'm'))?.[1];
    assert.equal(directive('WORKDIR'), container.workingDir);
    assert.equal(directive('USER'), `${pod.spec.securityContext.runAsUser}:${pod.spec.securityContext.runAsGroup}`);
    assert.deepEqual((JSON.parse(directive('CMD')!) as string[]).slice(0, 3), container.command.slice(0, 3));
    assert.match(last, /^HEALTHCHECK .*healthcheck\.mjs/m);
    assert.ok(existsSync(root + 'deploy/container/healthcheck.mjs'));
  });

  it('the Service selects the pods and targets the named container port', () => {
    assert.equal(service.kind, 'Service');
    for (const [k, v] of Object.entries(service.spec.selector as Record<string, string>)) assert.equal(pod.metadata.labels[k], v, `selector ${k}`);
    assert.deepEqual(deployment.spec.selector.matchLabels, service.spec.selector);
    for (const p of service.spec.ports as { targetPort: string | number }[]) {
      assert.ok((container.ports as { name: string }[]).some((c) => c.name === p.targetPort), `targetPort ${p.targetPort}`);
    }
  });
});

describe('namesIn (PromQL name extraction)', () => {
  it('finds metrics and labels, and skips functions, variables, strings, ranges and numbers', () => {
    const r = namesIn('histogram_quantile(0.99, sum by (instance, le) (rate(switchboard_publish_to_write_duration_bucket{instance=~"$node"}[$__rate_interval]))) > 1e-3');
    assert.deepEqual([...r.metrics], ['switchboard_publish_to_write_duration_bucket']);
    assert.deepEqual([...r.labels].sort(), ['instance', 'le']);
    const q = namesIn('sum(rate(a_total{code=~"5.."}[5m])) / sum(rate(a_total[5m])) > 0.05 and on (instance) b == 0');
    assert.deepEqual([...q.metrics].sort(), ['a_total', 'b']);
    assert.deepEqual([...q.labels].sort(), ['code', 'instance']);
    assert.deepEqual([...namesIn('label_values(switchboard_ready, instance)').metrics], ['switchboard_ready']);
  });
});
