/**
 * The docs, run: code blocks meant to be pasted (README's "Try it", the CLI examples, docs/api.md's curl commands,
 * docs/admin.md's servers) run as written in bash against a real server, with `localhost:8080` pointed at the test's
 * port and `switchboard` meaning dist/cli/main.js; and the statements issue #12 found wrong are checked against the
 * server's behaviour.
 * A doc edit that stops being true, or a code change that makes a doc untrue, fails here.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { startServer, type TestServer } from '../helpers/server.js';
import { waitFor, withTimeout } from '../helpers/wait.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const doc = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SWITCHBOARD_') && !k.startsWith('OTEL_')));

interface Block { lang: string; text: string; after: string; before: string }

/** Fenced code blocks of a markdown text, with the prose just before each and the next block's text. */
function blocks(md: string): Block[] {
  const out: Block[] = [];
  const re = /^```(\w*)\n([\s\S]*?)^```$/gm;
  let m: RegExpExecArray | null;
  let last = 0;
  while ((m = re.exec(md))) {
    out.push({ lang: m[1], text: m[2], before: md.slice(last, m.index), after: '' });
    last = m.index + m[0].length;
  }
  out.forEach((b, i) => (b.after = out[i + 1]?.text ?? ''));
  return out;
}

function findBlock(md: string, pred: (b: Block) => boolean, what: string): Block {
  const b = blocks(md).find(pred);
  assert.ok(b, `the doc has ${what}`);
  return b;
}

interface Shell { code: number | null; stdout: string; stderr: string }

/**
 * Runs doc text in bash: `localhost:8080` is the test server, `switchboard` the built CLI. `untilOut`: resolve (and
 * kill the command) once stdout matches, for commands that run until stopped (`curl -N`).
 */
function sh(
  script: string,
  port: number,
  opts: { untilOut?: RegExp; onOut?: (stdout: string) => void; timeoutMs?: number; env?: Record<string, string>; cwd?: string; stop?: Promise<unknown> } = {},
): Promise<Shell> {
  const prelude = `set -o pipefail\nswitchboard() { node ${JSON.stringify(join(ROOT, 'dist/cli/main.js'))} "$@"; }\n`;
  const body = script.replace(/localhost:8080|127\.0\.0\.1:8080/g, `localhost:${port}`);
  const child = spawn('bash', ['-c', prelude + body], {
    cwd: opts.cwd ?? ROOT, detached: true, env: { ...cleanEnv, SWITCHBOARD_URL: `http://localhost:${port}`, ...opts.env },
  });
  // `stop`: for commands that run until stopped (a server): their process group is ended when it settles.
  void opts.stop?.finally(() => {
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      // gone
    }
  });
  let stdout = '';
  let stderr = '';
  return withTimeout(new Promise<Shell>((resolve) => {
    const done = (code: number | null) => resolve({ code, stdout, stderr });
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
      opts.onOut?.(stdout);
      if (opts.untilOut?.test(stdout)) {
        process.kill(-child.pid!, 'SIGTERM');
        done(0);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.once('exit', (code) => done(code));
  }), opts.timeoutMs ?? 20_000, `bash: ${body.slice(0, 80)}`).catch((err: unknown) => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // gone
    }
    throw err;
  });
}

/** Values that differ per run (ids, positions' epochs, times) as placeholders, so a doc's example compares equal. */
function normalize(text: string): string {
  return text
    .replace(/"epoch":"[0-9a-f]+"/g, '"epoch":"E"')
    .replace(/^id: [0-9a-f]+:/gm, 'id: E:')
    .replace(/"(client|user|timestamp)":"[^"]*"/g, '"$1":"…"')
    .replace(/"version":"[^"]*"/g, '"version":"V"')
    .replace(/\r/g, '')
    .trim();
}

describe("README's Try it, pasted", () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(() => server.close());

  it('the first terminal prints what the README shows, and the publish answers what it shows', async () => {
    const readme = doc('README.md');
    const subscribe = findBlock(readme, (b) => b.lang === 'sh' && b.text.includes('curl -N'), 'the curl -N block');
    const publish = findBlock(readme, (b) => b.lang === 'sh' && b.text.includes('/api/publish') && b.text.includes('# →'), 'the publish block');
    const prints = findBlock(readme, (b) => /The first terminal prints:\s*$/.test(b.before), 'the "first terminal prints" block');
    let caughtUp!: () => void;
    const live = new Promise<void>((resolve) => (caughtUp = resolve));
    const sse = sh(subscribe.text, server.port, {
      untilOut: /\nid: [0-9a-f]+:1\n\n/,
      onOut: (out) => /event: caught_up\n.*\n\n/.test(out) && caughtUp(),
    });
    await withTimeout(live, 10_000, 'the stream to be live (caught_up)');
    const pub = await sh(publish.text.replace(/#.*$/gm, ''), server.port);
    assert.equal(pub.code, 0, pub.stderr);
    const shown = /# → (.*)/.exec(publish.text)![1];
    assert.equal(normalize(pub.stdout), normalize(shown));
    const out = await sse;
    assert.equal(normalize(out.stdout), normalize(prints.text));
  });

  it('the WebSocket one-liner subscribes and receives what is published', async () => {
    const readme = doc('README.md');
    const block = findBlock(readme, (b) => b.lang === 'sh' && b.text.includes("import WebSocket from 'ws'"), 'the WebSocket block');
    let subscribed!: () => void;
    const ready = new Promise<void>((resolve) => (subscribed = resolve));
    const ws = sh(block.text, server.port, {
      untilOut: /"push":"publication".*"payload":\{"title":"over ws"\}/,
      onOut: (out) => /"id":1,"result"/.test(out) && subscribed(),
    });
    await withTimeout(ready, 10_000, 'the subscribe reply');
    await server.publish('news', { title: 'over ws' }, 'headline');
    const out = await ws;
    assert.match(out.stdout, /"push":"connected"/);
  });

  it("the first page's publish commands (curl and the CLI) work as written", async () => {
    const readme = doc('README.md');
    const block = findBlock(readme, (b) => b.lang === 'sh' && b.text.includes('dist/cli/main.js publish'), 'the first-page publish block');
    const r = await sh(`set -e\n${block.text}`, server.port);
    assert.equal(r.code, 0, r.stderr);
    // curl prints no newline after the answer: the two positions follow each other.
    const positions = [...r.stdout.matchAll(/\{[^{}]*\}/g)].map((m) => JSON.parse(m[0]) as { channel: string; offset: number });
    assert.deepEqual(positions.map((p) => p.channel), ['news', 'news']);
    assert.equal(positions[1].offset, positions[0].offset + 1);
  });
});

describe('docs/cli.md, pasted', () => {
  it('the keyed example runs on the server started with the config file it names', async () => {
    const cli = doc('docs/cli.md');
    const block = findBlock(cli, (b) => b.lang === 'sh' && b.text.includes('prices:eu'), 'the keyed block');
    const config = /switchboard serve --config (\S+)/.exec(block.text);
    assert.ok(config, 'the example starts the server with a config file');
    const server = await startServer(['--config', join(ROOT, config[1])]);
    try {
      const lines = block.text.split('\n').filter((l) => l.startsWith('switchboard ') && !l.startsWith('switchboard serve'));
      const [set, del, sub] = lines;
      for (const line of [set, del, set]) {
        const r = await sh(line, server.port);
        assert.equal(r.code, 0, `${line}: ${r.stderr}`);
      }
      // The subscriber prints the current state first (one line per key): one key here.
      const r = await sh(sub.replace(/--count \d+/, '--count 1'), server.port);
      assert.equal(r.code, 0, r.stderr);
      const state = JSON.parse(r.stdout) as { channel: string; key: string; op: string; data: unknown };
      assert.deepEqual([state.channel, state.key, state.op, state.data], ['prices:eu', 'AAPL', 'upsert', { bid: 189.2 }]);
      // And without the file the doc's warning is what happens.
      const plain = await startServer();
      try {
        const refused = await sh(set, plain.port);
        assert.equal(refused.code, 1);
        assert.match(refused.stderr, /400 invalid_key: channel "prices:eu" is not keyed/);
        assert.match(cli, /400 invalid_key: channel "prices:eu" is not keyed/);
      } finally {
        await plain.close();
      }
    } finally {
      await server.close();
    }
  });
});

describe('switchboard token <user>, as the docs and the demo page show it', () => {
  it('works as written in docs/operations.md, docs/cli.md and the demo page\'s token hint', async () => {
    const shown = [doc('docs/operations.md'), doc('docs/cli.md'), doc('web/demo/index.html')]
      .flatMap((text) => [...text.matchAll(/switchboard token [^`)<\n]*/g)].map((m) => m[0].trim()))
      .filter((c) => !/^switchboard token (--|<)/.test(c) && !c.endsWith('"'));
    assert.ok(shown.length >= 3, `found ${shown.join(' | ')}`);
    for (const command of new Set(shown)) {
      const r = await sh(command, 1, { env: { SWITCHBOARD_JWT_SECRET: 'docs-token-secret-0123456789abcdef0123' } });
      assert.equal(r.code, 0, `${command}: ${r.stderr}`);
      assert.match(r.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/, command);
    }
  });
});

describe("docs/api.md's curl commands, pasted", () => {
  let server: TestServer;
  before(async () => {
    server = await startServer(['--config', join(ROOT, 'examples/keyed.yaml'), '--cors.origins', 'http://localhost:3000']);
  });
  after(() => server.close());

  it('every curl command reaches the server and gets the kind of answer the doc shows', async () => {
    const api = doc('docs/api.md');
    const commands = blocks(api).filter((b) => b.lang === 'sh')
      .flatMap((b) => b.text.replace(/\\\n\s*/g, ' ').split('\n').map((l) => ({ line: l.trim(), after: b.after })))
      .filter((c) => c.line.startsWith('curl '));
    assert.ok(commands.length >= 20, `found ${commands.length} curl commands`);
    for (const { line } of commands) {
      const r = await sh(line.replace(/\s+#.*$/, ''), server.port);
      assert.equal(r.code, 0, `${line}: ${r.stderr}`);
      assert.ok(r.stdout.length > 0, `${line}: no answer`);
      if (!/\bcurl -s?i/.test(line) && !/localhost:8080\/\s/.test(`${line} `)) {
        assert.doesNotThrow(() => JSON.parse(r.stdout), `${line}: not JSON: ${r.stdout.slice(0, 200)}`);
      }
    }
  });
});

describe('statements issue #12 found untrue', () => {
  it('docs/operations.md: /metrics answers 401 without the API key when apiKey is set; the scrape config carries it', async () => {
    const ops = doc('docs/operations.md');
    assert.match(ops, /with `apiKey` set it needs the key[^.]*and answers `401` without it/);
    const scrape = findBlock(ops, (b) => b.lang === 'yaml' && b.text.includes('static_configs'), 'the static scrape config');
    const job = (parseYaml(scrape.text) as { scrape_configs: Array<{ metrics_path: string; authorization: { type: string; credentials_file: string } }> }).scrape_configs[0];
    assert.equal(job.authorization.type, 'Bearer');
    assert.ok(job.authorization.credentials_file);
    const key = 'docs-metrics-key-0123456789';
    const server = await startServer(['--apiKey', key]);
    try {
      const keyFile = join(mkdtempSync(join(tmpdir(), 'sb-scrape-')), 'key');
      writeFileSync(keyFile, `${key}\n`);
      // What Prometheus sends for that job: the file's content (trimmed) as a bearer token.
      const credentials = readFileSync(keyFile, 'utf8').trim();
      const ok = await fetch(`${server.url}${job.metrics_path}`, { headers: { authorization: `${job.authorization.type} ${credentials}` } });
      assert.equal(ok.status, 200);
      assert.match(await ok.text(), /switchboard_/);
      const without = await fetch(`${server.url}${job.metrics_path}`);
      assert.equal(without.status, 401);
      await without.body?.cancel();
    } finally {
      await server.close();
    }
  });

  it('docs/client.md and docs/protocol.md: the SSE path answers a CORS preflight with 204, other methods 405', async () => {
    assert.match(doc('docs/client.md'), /The server answers it with `204`/);
    const protocol = doc('docs/protocol.md');
    assert.match(protocol, /`OPTIONS` \(a CORS preflight[^)]*\) gets\s+`204`/);
    assert.match(protocol, /405 `method_not_allowed` with\s+`Allow: GET, OPTIONS`/);
    const server = await startServer(['--cors.origins', 'http://app.test']);
    try {
      const pre = await fetch(`${server.url}/events?channel=news`, {
        method: 'OPTIONS',
        headers: { origin: 'http://app.test', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization, last-event-id' },
      });
      assert.equal(pre.status, 204);
      assert.equal(pre.headers.get('access-control-allow-origin'), 'http://app.test');
      assert.match(pre.headers.get('access-control-allow-headers') ?? '', /authorization, last-event-id/);
      const post = await fetch(`${server.url}/events?channel=news`, { method: 'POST' });
      assert.equal(post.status, 405);
      assert.equal(post.headers.get('allow'), 'GET, OPTIONS');
      await post.body?.cancel();
    } finally {
      await server.close();
    }
  });

  it('docs/api.md: GET / serves the demo page by default, and the JSON index with the demo off', async () => {
    const api = doc('docs/api.md');
    assert.match(api, /`GET \/` serves the \[demo page\]/);
    const index = findBlock(api, (b) => b.lang === 'sh' && /curl -s localhost:8080\/\s/.test(`${b.text} `), 'the GET / example');
    const on = await startServer();
    const off = await startServer(['--demo.enabled', 'false']);
    try {
      const page = await fetch(`${on.url}/`);
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
      await page.body?.cancel();
      const json = await fetch(`${off.url}/`);
      assert.match(json.headers.get('content-type') ?? '', /json/);
      assert.equal(normalize(await json.text()), normalize(index.after));
    } finally {
      await on.close();
      await off.close();
    }
  });
});

describe("docs/admin.md's Try it, pasted", () => {
  /** Runs a block that starts the server (as written, but `npm run build` is done and the port is free), until `check` is done. */
  async function serving(block: string, check: (base: string) => Promise<void>): Promise<void> {
    const port = await freePort();
    const script = `set -e\n${block.replace(/^npm run build\s*$/m, ':')}`;
    const child = spawn('bash', ['-c', script], { cwd: ROOT, detached: true, env: { ...cleanEnv, SWITCHBOARD_PORT: String(port) } });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
    try {
      await withTimeout(new Promise<void>((resolve, reject) => {
        const timer = setInterval(() => /switchboard listening/.test(out) && (clearInterval(timer), resolve()), 50);
        child.once('exit', (code) => (clearInterval(timer), reject(new Error(`the server exited (${code}): ${out}`))));
      }), 20_000, 'the server in the block to listen');
      await check(`http://127.0.0.1:${port}`);
    } finally {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        // gone
      }
    }
  }
  const signIn = (base: string, body: unknown) => fetch(`${base}/admin/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it('production: the console is on, and signs in with the API key the block sets (not without it)', async () => {
    const md = doc('docs/admin.md');
    const block = findBlock(md, (b) => b.lang === 'sh' && b.text.includes('SWITCHBOARD_ADMIN_ENABLED=true'), 'the production block');
    const key = /SWITCHBOARD_API_KEY=(\S+)/.exec(block.text)![1]!;
    await serving(block.text, async (base) => {
      assert.equal((await fetch(`${base}/admin`)).status, 200);
      assert.equal((await signIn(base, { name: 'ops-alice', secret: 'wrong' })).status, 401);
      const r = await signIn(base, { name: 'ops-alice', secret: key });
      assert.equal(r.status, 200);
      assert.match(r.headers.get('set-cookie') ?? '', /^sb_admin=[^;]+; Path=\/; HttpOnly; SameSite=Strict/);
      const stats = await fetch(`${base}/api/stats`, { headers: { cookie: r.headers.get('set-cookie')!.split(';')[0]! } });
      assert.equal(stats.status, 200);
    });
  });

  it('development mode: no options, the console is on and a local caller signs in with a name only', async () => {
    const md = doc('docs/admin.md');
    const block = findBlock(md, (b) => b.lang === 'sh' && /^node dist\/cli\/main\.js serve\s/.test(b.text), 'the development block');
    await serving(block.text.replace(/#.*$/gm, ''), async (base) => {
      assert.equal((await fetch(`${base}/admin`)).status, 200);
      const r = await signIn(base, { name: 'me' });
      assert.equal(r.status, 200);
      assert.equal(((await r.json()) as { operator: { via: string } }).operator.via, 'local');
    });
  });
});

describe("docs/operations.md's \"Trace one message end to end\", pasted", () => {
  it('the test receiver prints the trace the doc shows: curl publish → server spans → the subscriber\'s websocket.receive', async () => {
    const ops = doc('docs/operations.md');
    const start = ops.indexOf('### Trace one message end to end');
    assert.ok(start >= 0, 'the walkthrough is in docs/operations.md');
    const section = ops.slice(start, ops.indexOf('\n## ', start));
    const receiverBlock = findBlock(section, (b) => b.text.includes('startOtlpReceiver'), 'the receiver block');
    const serverBlock = findBlock(section, (b) => b.lang === 'sh' && / serve\b/.test(b.text), 'the server block');
    const subscriberBlock = findBlock(section, (b) => b.text.includes('subscriber.mjs'), 'the subscriber block');
    const publishBlock = findBlock(section, (b) => b.text.includes('/api/publish'), 'the publish block');
    const shown = findBlock(section, (b) => b.text.includes('websocket.receive [subscriber]'), "the receiver's output");

    // Free ports stand for the doc's 4318 (the receiver) and 8080 (the server).
    const otlpPort = await freePort();
    const port = await freePort();
    const otlp = (text: string) => text.replace(/\b4318\b/g, String(otlpPort));
    // "A project that depends on switchboard": this checkout as its dependency, with the OpenTelemetry packages it has.
    const project = mkdtempSync(join(tmpdir(), 'sb-trace-walk-'));
    mkdirSync(join(project, 'node_modules'));
    symlinkSync(ROOT, join(project, 'node_modules', 'switchboard'));
    symlinkSync(join(ROOT, 'node_modules', '@opentelemetry'), join(project, 'node_modules', '@opentelemetry'));

    let stopAll!: () => void;
    const stop = new Promise<void>((resolve) => (stopAll = resolve));
    const out = { receiver: '', server: '', subscriber: '' };
    const waitOut = (which: keyof typeof out, re: RegExp, label: string) =>
      waitFor(() => re.test(out[which]), { timeout: 30_000, label, describe: () => `${which}: ${out[which].slice(-2000)}` });
    const runs = [
      sh(otlp(receiverBlock.text), port, { stop, timeoutMs: 120_000, onOut: (s) => (out.receiver = s) }),
      sh(otlp(serverBlock.text).replace(/\bnpx switchboard\b/g, 'switchboard'), port, {
        stop, timeoutMs: 120_000, env: { SWITCHBOARD_PORT: String(port) }, onOut: (s) => (out.server = s),
      }),
    ];
    try {
      await waitOut('receiver', /OTLP\/HTTP receiver on/, 'the receiver');
      await waitOut('server', /switchboard listening/, 'the server');
      runs.push(sh(otlp(subscriberBlock.text), port, { cwd: project, stop, timeoutMs: 120_000, onOut: (s) => (out.subscriber = s) }));
      // The subscription is live once the server's event_stream.subscribe span was exported.
      await waitOut('receiver', /event_stream\.subscribe \[switchboard\]/, 'the subscriber subscribed');
      const pub = await sh(publishBlock.text, port);
      assert.equal(pub.code, 0, pub.stderr);
      assert.match(pub.stdout, /"channel":"news"/);

      // The doc's lines: `trace… span… <- parent… name [service]`, ids cut to 8 digits.
      const expected = shown.text.trim().split('\n').map((l) => {
        const [trace, span, , parent, name, service] = l.trim().split(/\s+/);
        return { trace: trace!.replace('…', ''), span: span!.replace('…', ''), parent: parent!.replace('…', ''), name: name!, service: service! };
      });
      const traceId = /traceparent: 00-([0-9a-f]{32})-/.exec(publishBlock.text)![1]!;
      assert.ok(expected.every((e) => traceId.startsWith(e.trace)), 'the output shows the curl command\'s trace');
      const printed = () => out.receiver.split('\n').map((l) => l.trim().split(/\s+/))
        .filter((w) => w[0] === traceId).map(([, span, , parent, name, service]) => ({ span: span!, parent: parent!, name: name!, service: service! }));
      await waitFor(() => expected.every((e) => printed().some((p) => p.name === e.name && p.service === e.service)), {
        timeout: 30_000, label: 'the trace the doc shows', describe: () => out.receiver.slice(-3000),
      });
      // Same parents as the doc: each line's parent is the span the doc's line points to (or the curl's parent id).
      const got = printed();
      const actualOf = (short: string) => {
        const e = expected.find((x) => x.span === short);
        return e ? got.find((p) => p.name === e.name && p.service === e.service)!.span : undefined;
      };
      for (const e of expected) {
        const p = got.find((x) => x.name === e.name && x.service === e.service)!;
        const parent = actualOf(e.parent);
        if (parent) assert.equal(p.parent, parent, `${e.name}'s parent`);
        else assert.ok(p.parent.startsWith(e.parent), `${e.name}'s parent is the caller's span ${e.parent}`);
      }
      assert.match(out.subscriber, new RegExp(`received hello 00-${traceId}-`), 'the subscriber prints the trace id it received');
    } finally {
      stopAll();
      await Promise.allSettled(runs);
      rmSync(project, { recursive: true, force: true });
    }
  });
});

/** A TCP port free right now on 127.0.0.1. */
async function freePort(): Promise<number> {
  const s = createNetServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return port;
}
