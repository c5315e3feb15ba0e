/**
 * The client-side commands (publish, token) as a user runs them: a child process against a real server.
 * The server runs in this process, so the children are spawned asynchronously (spawnSync would block its event loop).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { startServer, type TestServer } from '../helpers/server.js';
import { connectReady } from '../helpers/ws-client.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const SECRET = 'cli-tools-test-secret-0123456789abcdef';
const API_KEY = 'cli-tools-test-api-key';
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SWITCHBOARD_')));

function cli(args: string[], env: Record<string, string> = {}, input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args],
      { cwd: root, env: { ...cleanEnv, ...env }, timeout: 30_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
    if (input !== undefined) child.stdin!.end(input);
    else child.stdin!.end();
  });
}

describe('switchboard publish and token', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer(['--jwt.secret', SECRET, '--apiKey', API_KEY]);
  });
  after(() => server.close());

  it('publish sends the JSON through the API and prints the position; history has it', async () => {
    const r = await cli(['publish', 'news', '{"title":"hi"}', '--event', 'headline', '--url', server.url, '--api-key', API_KEY]);
    assert.equal(r.code, 0, r.stderr);
    const pos = JSON.parse(r.stdout) as { channel: string; epoch: string; offset: number };
    assert.equal(pos.channel, 'news');
    assert.equal(pos.offset, 1);
    const h = await server.api('GET', '/api/history?channel=news', undefined, { 'x-api-key': API_KEY });
    assert.equal(h.status, 200);
    const [pub] = h.body.publications as Array<{ type: string; payload: unknown; offset: number }>;
    assert.deepEqual([pub.type, pub.payload, pub.offset], ['headline', { title: 'hi' }, 1]);
  });

  it('publish takes the URL and key from the environment and the data from stdin with "-"', async () => {
    const r = await cli(['publish', 'news', '-'], { SWITCHBOARD_URL: server.url, SWITCHBOARD_API_KEY: API_KEY }, '[1, 2, 3]\n');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).offset, 2);
  });

  it('publish errors: a wrong key is the server\'s 401 (exit 1); bad JSON and missing arguments exit 2', async () => {
    const bad = await cli(['publish', 'news', '1', '--url', server.url, '--api-key', 'wrong']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^switchboard publish: 401 unauthorized: /);
    const json = await cli(['publish', 'news', '{oops', '--url', server.url]);
    assert.equal(json.code, 2);
    assert.match(json.stderr, /is not valid JSON/);
    const missing = await cli(['publish', 'news']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /missing <json>/);
    const channel = await cli(['publish', 'bad channel!', '1', '--url', server.url, '--api-key', API_KEY]);
    assert.equal(channel.code, 1);
    assert.match(channel.stderr, /400 invalid_channel/);
  });

  it('publish to a server that is not there says so (exit 1)', async () => {
    const r = await cli(['publish', 'news', '1', '--url', 'http://127.0.0.1:9']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot reach http:\/\/127\.0\.0\.1:9 .*Is the server running\?/);
  });

  it('token mints a JWT the server accepts, with the claims asked for', async () => {
    const r = await cli(['token', 'alice', '--ttl', '10m', '--channels', 'news,alerts', '--info', '{"name":"Alice"}'],
      { SWITCHBOARD_JWT_SECRET: SECRET });
    assert.equal(r.code, 0, r.stderr);
    const token = r.stdout.trim();
    const claims = decodeJwt(token);
    assert.equal(claims.sub, 'alice');
    assert.deepEqual(claims.channels, ['news', 'alerts']);
    assert.ok(claims.exp! - claims.iat! === 600);
    const { client, connected } = await connectReady(`${server.wsUrl}?token=${token}`);
    try {
      assert.equal(connected.user_id ?? connected.user, 'alice');
    } finally {
      client.close();
    }
  });

  it('token refuses a missing user, a short secret and a bad ttl (exit 2)', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['token', '--secret', SECRET], /a user is required, e.g. switchboard token alice/],
      [['token', 'a', 'b', '--secret', SECRET], /unexpected argument "b"/],
      [['token', 'a', '--user', 'b', '--secret', SECRET], /two users given/],
      [['token', '--user', 'a', '--secret', 'short'], /the secret is 5 bytes; the server needs at least 32/],
      [['token', '--user', 'a', '--secret', SECRET, '--ttl', 'soon'], /--ttl "soon" is not a duration/],
      [['token', '--user', 'a'], /no secret: pass --secret or set SWITCHBOARD_JWT_SECRET/],
    ];
    for (const [args, re] of cases) {
      const r = await cli(args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, re);
    }
  });
});

describe('switchboard subscribe', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer(); // development mode: ?user= names the user
  });
  after(() => server.close());

  /** Starts `subscribe`, resolves once it reported `subscribed` on stderr; `done` resolves at its exit. */
  function subscribeCli(args: string[]) {
    const child = execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'subscribe', ...args, '--url', server.url],
      { cwd: root, env: cleanEnv, timeout: 30_000 });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d));
    const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
      child.on('exit', (code) => resolve({ code, stdout, stderr })));
    const subscribed = new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (d: Buffer) => {
        stderr += d;
        if (stderr.includes('"status":"subscribed"')) resolve();
      });
      child.on('exit', () => reject(new Error(`subscribe exited early: ${stderr}`)));
    });
    return { child, subscribed, done };
  }

  for (const transport of ['websocket', 'sse']) {
    it(`prints each publication as one JSON line and exits after --count (${transport})`, async () => {
      const channel = `cli-sub-${transport}`;
      const sub = subscribeCli([channel, '--count', '3', '--user', 'cli', ...(transport === 'sse' ? ['--sse'] : [])]);
      await sub.subscribed;
      for (let i = 1; i <= 3; i++) {
        const r = await cli(['publish', channel, JSON.stringify({ n: i }), '--event', 'tick', '--url', server.url]);
        assert.equal(r.code, 0, r.stderr);
      }
      const { code, stdout, stderr } = await sub.done;
      assert.equal(code, 0, stderr);
      const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.deepEqual(lines.map((l) => [l.channel, l.event, l.data, l.offset]),
        [1, 2, 3].map((n) => [channel, 'tick', { n }, n]));
      assert.match(stderr, /"status":"connected","user":"cli"/);
    });
  }

  it('--since replays what came after the position, then continues live', async () => {
    const first = await server.publish('cli-since', 'a');
    await server.publish('cli-since', 'b');
    await server.publish('cli-since', 'c');
    const sub = subscribeCli(['cli-since', '--since', `${first.epoch}:${first.offset}`, '--count', '3', '--user', 'cli']);
    await sub.subscribed;
    await server.publish('cli-since', 'd');
    const { code, stdout } = await sub.done;
    assert.equal(code, 0);
    assert.deepEqual(stdout.trim().split('\n').map((l) => (JSON.parse(l) as { data: string }).data), ['b', 'c', 'd']);
  });

  it('a subscription the server refuses is reported on stderr; bad usage exits 2', async () => {
    const missing = await cli(['subscribe']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /missing <channel>/);
    const since = await cli(['subscribe', 'a', 'b', '--since', 'e:1']);
    assert.equal(since.code, 2);
    assert.match(since.stderr, /--since is a position in one channel/);
    const sub = subscribeCli(['bad channel!', '--user', 'cli']);
    sub.subscribed.catch(() => undefined); // it never subscribes
    const { code, stderr } = await sub.done;
    assert.equal(code, 1);
    assert.match(stderr, /"status":"error","code":"invalid_channel"/);
  });
});

describe('switchboard subscribe against a server that checks tokens', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer(['--jwt.secret', SECRET]);
  });
  after(() => server.close());

  for (const transport of ['websocket', 'sse']) {
    it(`a refused token prints the server's reason and exits 1 instead of retrying (${transport})`, async () => {
      const r = await cli(['subscribe', 'news', '--token', 'not-a-jwt', '--timeout', '5s', '--url', server.url, ...(transport === 'sse' ? ['--sse'] : [])]);
      assert.equal(r.code, 1, r.stderr);
      const lines = r.stderr.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.equal(lines[0].status, 'error');
      assert.equal(lines[0].code, 'unauthorized');
      assert.match(String(lines[0].message), /^HTTP 401: malformed token/);
      assert.deepEqual(lines.slice(1), [{ status: 'disconnected', code: 3009, reason: 'HTTP 401', reconnect: false }]);
    });
  }
});

describe('switchboard publish and subscribe on a keyed channel', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer(['--namespaces', JSON.stringify([{ name: 'kv', keyed: true, subscribe: 'anonymous', publish: true }])]);
  });
  after(() => server.close());

  it('publish --key/--op sets and deletes keys; subscribe prints the current state with key and op', async () => {
    const url = ['--url', server.url];
    for (const args of [['kv:prices', '{"bid":1}', '--key', 'AAPL'], ['kv:prices', '{"bid":2}', '--key', 'MSFT'], ['kv:prices', '--key', 'AAPL', '--op', 'delete']]) {
      const r = await cli(['publish', ...args, ...url]);
      assert.equal(r.code, 0, r.stderr);
    }
    const sub = await cli(['subscribe', 'kv:prices', '--user', 'cli', '--count', '2', ...url]);
    assert.equal(sub.code, 0, sub.stderr);
    const lines = sub.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    // The state in offset order: MSFT's upsert (offset 2) and AAPL's tombstone (offset 3).
    assert.deepEqual(lines.map((l) => [l.key, l.op, l.data, l.offset]), [['MSFT', 'upsert', { bid: 2 }, 2], ['AAPL', 'delete', null, 3]]);
  });

  it('publish --exclude skips that connection: it gets a skip, the publication stays in history', async () => {
    const { client, connected } = await connectReady(`${server.wsUrl}?user=watcher`);
    server.track(client);
    await client.call('subscribe', { channel: 'plain-excl' });
    const r = await cli(['publish', 'plain-excl', '1', '--exclude', connected.client as string, '--url', server.url]);
    assert.equal(r.code, 0, r.stderr);
    const pos = JSON.parse(r.stdout) as { epoch: string; offset: number };
    assert.deepEqual(await client.nextPush((m) => m.push === 'skip'), { push: 'skip', channel: 'plain-excl', epoch: pos.epoch, offset: pos.offset });
    assert.equal((await server.api('GET', '/api/history?channel=plain-excl')).body.publications.length, 1);
  });

  it('refuses --op without --key, a bad --op and JSON with a delete (exit 2); a key on a plain channel is the server\'s invalid_key (exit 1)', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['publish', 'kv:x', '1', '--op', 'delete'], /--op needs --key/],
      [['publish', 'kv:x', '1', '--key', 'k', '--op', 'remove'], /--op must be upsert or delete/],
      [['publish', 'kv:x', '1', '--key', 'k', '--op', 'delete'], /a delete takes no <json>/],
    ];
    for (const [args, re] of cases) {
      const r = await cli(args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, re);
    }
    const plain = await cli(['publish', 'plain', '1', '--key', 'k', '--url', server.url]);
    assert.equal(plain.code, 1);
    assert.match(plain.stderr, /400 invalid_key/);
  });
});
