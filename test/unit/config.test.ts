import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, configOptions, loadConfig, parseDuration, renderConfigDocs } from '../../src/config/index.js';
import { EXAMPLE_YAML } from '../../src/config/docs.js';

const dir = mkdtempSync(join(tmpdir(), 'switchboard-config-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}
/** The ConfigError message thrown by `fn`. */
function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.name, 'ConfigError');
    return err.message;
  }
  assert.fail('expected a ConfigError');
}

describe('loadConfig defaults', () => {
  it('fills every default, durations in milliseconds', () => {
    const c = loadConfig();
    assert.equal(c.port, 8080);
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.logLevel, 'info');
    assert.equal(c.accessLog, 'info');
    assert.equal(c.apiKey, '');
    assert.equal(c.broker, 'memory');
    assert.deepEqual(c.history, { size: 100, ttl: 300_000, metaTtl: 86_400_000, maxChannels: 1_000_000, maxBytes: 0 });
    assert.deepEqual(c.websocket, { path: '/ws', allowedOrigins: [], pingInterval: 25_000, pongTimeout: 10_000, writeTimeout: 10_000,
      maxMessageSize: 524_288, allowBinary: false, perMessageDeflate: false, maxBadFrames: 10 });
    assert.deepEqual(c.sse, { path: '/events', heartbeatInterval: 15_000, heartbeatEvent: false, retry: 3_000, maxChannels: 32 });
    assert.deepEqual(c.client, { queueMaxBytes: 1_048_576, maxSubscriptions: 128, maxPublishSize: 65_536, maxReplyBytes: 1_048_576, anonymousUserPrefix: 'anon-', allowAnonymous: false, directMessages: 'authenticated' });
    assert.deepEqual(c.channel, { maxLength: 255, presence: true, joinLeave: false, publish: true, subscribe: 'authenticated', webhookPublications: false });
    assert.deepEqual(c.namespaces, []);
    assert.equal(c.insecure, false);
    assert.deepEqual(c.jwt, { secret: '', previousSecret: '', publicKey: '', jwksUrl: '', audience: '', issuer: '', cookie: 'switchboard_token', clockTolerance: 5_000 });
    assert.deepEqual(c.limits, { connections: 100_000, connectionsPerIp: 1000, connectionsPerUser: 100, sseStreamsPerIp: 200, connectRate: 50,
      commandRate: 100, commandRejectLimit: 100, handshakeTimeout: 10_000 });
    assert.deepEqual(c.tracing, { writeSampleRate: 0.1, maxWriteSpans: 16 });
    assert.deepEqual(c.metrics, { enabled: true, path: '/metrics', public: false });
    assert.deepEqual(c.delivery, { maxWriteDelay: 20 });
    assert.deepEqual(c.delta, { fullEvery: 20, maxBases: 4 });
    assert.deepEqual(c.publish, { idempotencyWindow: 300_000, idempotencyMaxKeys: 100_000, idempotencyMaxBytes: 16_777_216 });
    assert.deepEqual(c.api, { maxBodySize: 1_048_576, maxHistoryLimit: 1000, maxReplyBytes: 1_048_576 });
    assert.deepEqual(c.cors, { origins: [] });
    assert.deepEqual(c.shutdown, { timeout: 10_000 });
    assert.deepEqual(c.compat, { seed000Channel: 'broadcast', centrifuge: true });
    assert.deepEqual(c.pusher, { appId: '', key: '', secret: '', clientEvents: true, activityTimeout: 120000, timestampWindow: 600000, apps: [] });
    assert.deepEqual(c.webhooks, { url: [], secret: '', batchSize: 100, maxQueue: 100_000, timeout: 10_000, retryMin: 500, retryMax: 60_000, lockTtl: 10_000 });
    assert.deepEqual(c.proxy, {
      connect: { url: '', headers: ['authorization', 'origin', 'user-agent'], cookies: [] },
      subscribe: { url: '' }, publish: { url: '' }, rpc: { url: '' },
      secret: '', timeout: 5_000, maxConcurrency: 256, maxResponseSize: 65_536, cacheMaxBytes: 8_388_608, trusted: [],
    });
    assert.deepEqual(c.admin, { enabled: false, secret: '', sessionTtl: 28_800_000, maxSessions: 64, signInAttempts: 5, signInAddresses: 4096, maxStreams: 16, statsInterval: 2_000 });
  });

  it('is deeply frozen', () => {
    const c = loadConfig({ argv: ['--cors.origins', 'https://a.example'] });
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.history) && Object.isFrozen(c.cors.origins));
    assert.throws(() => { (c as { port: number }).port = 1; }, TypeError);
    assert.throws(() => { (c.cors.origins as string[]).push('x'); }, TypeError);
  });

  it('ignores the host environment unless env is passed', () => {
    process.env.SWITCHBOARD_PORT = '1234';
    try { assert.equal(loadConfig().port, 8080); } finally { delete process.env.SWITCHBOARD_PORT; }
  });
});

describe('precedence: defaults < file < env < flags', () => {
  const yaml = file('precedence.yaml', 'port: 1000\nhost: 0.0.0.0\nhistory:\n  size: 1\n  ttl: 1m\n');
  it('layers override one another option by option', () => {
    const c = loadConfig({ file: yaml, env: { SWITCHBOARD_PORT: '2000', SWITCHBOARD_HISTORY_SIZE: '2' }, argv: ['--port', '3000'] });
    assert.equal(c.port, 3000); // flag
    assert.equal(c.history.size, 2); // env over file
    assert.equal(c.history.ttl, 60_000); // file
    assert.equal(c.host, '0.0.0.0'); // file
    assert.equal(c.history.metaTtl, 86_400_000); // default
  });
  it('PORT and LOG_LEVEL sit below their SWITCHBOARD_ names and above the file', () => {
    assert.equal(loadConfig({ file: yaml, env: { PORT: '5' } }).port, 5);
    assert.equal(loadConfig({ env: { PORT: '5', SWITCHBOARD_PORT: '6' } }).port, 6);
    assert.equal(loadConfig({ env: { LOG_LEVEL: 'debug' } }).logLevel, 'debug');
    assert.equal(loadConfig({ env: { LOG_LEVEL: 'debug', SWITCHBOARD_LOG_LEVEL: 'warn' } }).logLevel, 'warn');
  });
  it('SWITCHBOARD_URL and SWITCHBOARD_TOKEN belong to the client commands: the server ignores them', () => {
    const c = loadConfig({ env: { SWITCHBOARD_URL: 'http://example.test:1', SWITCHBOARD_TOKEN: 'x' } });
    assert.equal(c.port, 8080);
    assert.throws(() => loadConfig({ env: { SWITCHBOARD_URLS: 'x' } }), /unknown option/);
  });
  it('finds the file from input.file, then --config, then SWITCHBOARD_CONFIG', () => {
    const other = file('other.json', '{"port": 7}');
    assert.equal(loadConfig({ env: { SWITCHBOARD_CONFIG: yaml } }).port, 1000);
    assert.equal(loadConfig({ argv: ['--config', other], env: { SWITCHBOARD_CONFIG: yaml } }).port, 7);
    assert.equal(loadConfig({ argv: [`--config=${other}`] }).port, 7);
    assert.equal(loadConfig({ file: yaml, argv: ['--config', other] }).port, 1000);
  });
  it('treats an empty env value as unset', () => {
    assert.equal(loadConfig({ file: yaml, env: { SWITCHBOARD_PORT: '' } }).port, 1000);
  });
});

describe('coercion of env and flag strings', () => {
  /** A valid string for each kind and what it parses to. */
  const sample: Record<string, [string, unknown]> = {
    int: ['7', 7], duration: ['2s', 2000], boolean: ['1', true], list: ['a, b,,c', ['a', 'b', 'c']], fraction: ['0.25', 0.25],
    json: ['[{"name":"chat","publish":true}]', [{ name: 'chat', subscribe: 'authenticated', publish: true, presence: true, joinLeave: false, maxSubscribers: 0, webhookPublications: false }]],
  };
  for (const o of configOptions) {
    it(`${o.env} and ${o.flag}`, () => {
      const blank = o.type.includes('32 bytes') ? 'x'.repeat(32) : 'x'; // secrets need 32 bytes
      // workers > 1 needs redis.url (a cross-option rule tested below), so 1 here.
      const url = 'http://127.0.0.1:3000/hook';
      const [text, expected] = o.path === 'workers' ? ['1', 1]
        : o.path === 'pusher.apps' ? ['[{"appId":"2","key":"k2","secret":"s2","namespace":"app2"}]', [{ appId: '2', key: 'k2', secret: 's2', namespace: 'app2' }]] : o.path === 'proxy.trusted' ? ['10.0.0.0/8, ::1', ['10.0.0.0/8', '::1']] : o.path === 'webhooks.url' ? ['http://a.example/h, https://b.example/h', ['http://a.example/h', 'https://b.example/h']] : o.type === 'URL' ? [url, url] : sample[o.kind] ?? [String(o.default === '' ? blank : o.default), o.default === '' ? blank : o.default];
      const get = (c: unknown) => o.path.split('.').reduce((v: any, k) => v[k], c);
      // tls.cert and tls.key are set together (a cross-option rule tested in tls-http2.test.ts).
      const pair = o.path === 'tls.cert' ? 'tls.key' : o.path === 'tls.key' ? 'tls.cert' : o.path === 'webhooks.url' ? 'webhooks.secret' : undefined;
      const pairValue = pair === 'webhooks.secret' ? 'x'.repeat(32) : 'x';
      // pusher.appId, key and secret too (the rule is tested below).
      const trio = ['pusher.appId', 'pusher.key', 'pusher.secret'];
      const others = trio.includes(o.path) ? trio.filter((p) => p !== o.path) : pair ? [pair] : [];
      const envOf = (path: string) => configOptions.find((x) => x.path === path)!.env;
      const pairEnv = Object.fromEntries(others.map((p) => [envOf(p), p === 'webhooks.secret' ? pairValue : 'x']));
      const pairArgv = others.flatMap((p) => [`--${p}`, p === 'webhooks.secret' ? pairValue : 'x']);
      assert.deepEqual(get(loadConfig({ env: { [o.env]: text, ...pairEnv } })), expected);
      assert.deepEqual(get(loadConfig({ argv: [o.flag, text, ...pairArgv] })), expected);
      assert.deepEqual(get(loadConfig({ argv: [`${o.flag}=${text}`, ...pairArgv] })), expected);
    });
  }
  it('pusher.appId, pusher.key and pusher.secret are set together', () => {
    assert.match(configError(() => loadConfig({ env: { SWITCHBOARD_PUSHER_APP_ID: '1', SWITCHBOARD_PUSHER_KEY: 'k' } })), /pusher\.secret.*set together/);
    assert.equal(loadConfig({ argv: ['--pusher.appId', '1', '--pusher.key', 'k', '--pusher.secret', 's'] }).pusher.key, 'k');
  });
  it('pusher.apps: several apps in JSON, ids, keys and namespaces unique, namespaces declared', () => {
    const app2 = { appId: '2', key: 'k2', secret: 'secret-two', namespace: 'app2' };
    const c = loadConfig({ argv: ['--pusher.appId', '1', '--pusher.key', 'k', '--pusher.secret', 's'], env: { SWITCHBOARD_PUSHER_APPS: JSON.stringify([app2, { appId: '3', key: 'k3', secret: 's3', namespace: 'app3', clientEvents: false }]) } });
    assert.deepEqual(c.pusher.apps.map((a) => [a.appId, a.namespace, a.clientEvents]), [['2', 'app2', undefined], ['3', 'app3', false]]);
    // The list alone: its one app without a namespace maps channel names one to one.
    assert.equal(loadConfig({ env: { SWITCHBOARD_PUSHER_APPS: JSON.stringify([{ appId: '1', key: 'k', secret: 's' }]) } }).pusher.apps[0]!.namespace, '');
    const shorthand = ['--pusher.appId', '1', '--pusher.key', 'k', '--pusher.secret', 's'];
    const err = (apps: unknown[], more: string[] = []) => configError(() => loadConfig({ argv: [...shorthand, '--pusher.apps', JSON.stringify(apps), ...more] }));
    assert.match(err([{ ...app2, key: 'k' }]), /pusher\.apps\[0\]\.key.*key "k" is taken by pusher\.appId already/);
    assert.match(err([{ ...app2, appId: '1' }]), /pusher\.apps\[0\]\.appId.*appId "1" is taken by pusher\.appId already/);
    assert.match(err([{ ...app2, namespace: '' }]), /pusher\.apps\[0\]\.namespace.*an empty namespace .* is taken by pusher\.appId already.*give every app but one a namespace/s);
    assert.match(err([app2, { ...app2, appId: '3', key: 'k3' }]), /pusher\.apps\[1\]\.namespace.*namespace "app2" is taken by pusher\.apps\[0\] already/);
    assert.match(err([app2], ['--namespaces', '[{"name":"chat"}]']), /pusher\.apps\[0\]\.namespace.*not declared in namespaces.*add \{"name":"app2"/s);
    assert.equal(loadConfig({ argv: [...shorthand, '--pusher.apps', JSON.stringify([app2]), '--namespaces', '[{"name":"app2"}]'] }).pusher.apps.length, 1);
    assert.match(err([{ ...app2, namespace: 'a:b' }]), /pusher\.apps\[0\]\.namespace/);
    assert.match(err(Array.from({ length: 101 }, (_, i) => ({ appId: `a${i}`, key: `k${i}`, secret: 's', namespace: `n${i}` }))), /at most 100/);
    // A secret in a bad entry is not echoed.
    const bad = err([{ ...app2, secret: '' }]);
    assert.match(bad, /pusher\.apps\[0\]\.secret/);
    assert.doesNotMatch(err([{ ...app2, key: 'k', secret: 'do-not-show-me' }]), /do-not-show-me/);
  });
  it('booleans take true/false/1/0 in any case', () => {
    for (const [text, value] of [['true', true], ['TRUE', true], ['1', true], ['false', false], ['False', false], ['0', false]] as const) {
      assert.equal(loadConfig({ env: { SWITCHBOARD_CHANNEL_PRESENCE: text } }).channel.presence, value);
    }
    assert.match(configError(() => loadConfig({ env: { SWITCHBOARD_CHANNEL_PRESENCE: 'yes' } })), /expected true or false, got "yes"/);
  });
  it('a bare boolean flag means true, and a following value is still read', () => {
    const c = loadConfig({ argv: ['--websocket.allowBinary', '--channel.presence', 'false', '--sse.heartbeatEvent'] });
    assert.equal(c.websocket.allowBinary, true);
    assert.equal(c.channel.presence, false);
    assert.equal(c.sse.heartbeatEvent, true);
  });
  it('kebab-case flags reach camelCase options', () => {
    const c = loadConfig({ argv: ['--log-level', 'trace', '--websocket.ping-interval=1s', '--host', '::1'] });
    assert.equal(c.logLevel, 'trace');
    assert.equal(c.websocket.pingInterval, 1000);
    assert.equal(c.host, '::1');
  });
  it('numeric strings in files are coerced too', () => {
    assert.equal(loadConfig({ file: file('strings.json', '{"port": "81", "history": {"ttl": "250"}}') }).history.ttl, 250);
  });
  it('env names are unique', () => {
    assert.equal(new Set(configOptions.map((o) => o.env)).size, configOptions.length);
  });
});

describe('durations', () => {
  it('parses milliseconds and units', () => {
    const cases: [unknown, number | undefined][] = [
      [0, 0], [250, 250], ['250', 250], ['500ms', 500], ['30s', 30_000], ['1.5s', 1500], ['5m', 300_000],
      ['1h', 3_600_000], ['7d', 604_800_000], ['24d', 2_073_600_000], [' 2s ', 2000],
      ['1h30m', undefined], ['-1s', undefined], [-5, undefined], ['5 m', undefined], ['5w', undefined], ['', undefined],
      ['25d', undefined], [Number.NaN, undefined], [true, undefined],
    ];
    for (const [input, ms] of cases) assert.equal(parseDuration(input), ms, `parseDuration(${JSON.stringify(input)})`);
  });
  it('reaches the config from a file as number or string', () => {
    const c = loadConfig({ file: file('d.yaml', 'websocket:\n  pingInterval: 0\n  pongTimeout: 1h\ndelivery:\n  maxWriteDelay: 5\n') });
    assert.equal(c.websocket.pingInterval, 0);
    assert.equal(c.websocket.pongTimeout, 3_600_000);
    assert.equal(c.delivery.maxWriteDelay, 5);
  });
});

describe('errors name the option, the source, the problem and the fix', () => {
  it('matches the documented message shape', () => {
    assert.equal(configError(() => loadConfig({ env: { SWITCHBOARD_HISTORY_SIZE: 'abc' } })),
      'config option "history.size" (from env SWITCHBOARD_HISTORY_SIZE): expected an integer >= 0, got "abc". Fix: set it to a whole number such as 100.');
  });
  it('names files and flags as sources', () => {
    const f = file('bad.yaml', 'history:\n  ttl: soon\n');
    assert.equal(configError(() => loadConfig({ file: f })),
      `config option "history.ttl" (from file ${f}): expected a duration: milliseconds or a number with a unit ms, s, m, h or d (at most 24d), got "soon". Fix: set it to a duration such as "5m".`);
    assert.match(configError(() => loadConfig({ argv: ['--port=70000'] })),
      /^config option "port" \(from flag --port\): expected an integer from 0 to 65535, got "70000"\. Fix: set it to a whole number such as 8080\.$/);
    assert.match(configError(() => loadConfig({ argv: ['--log-level', 'loud'] })),
      /"logLevel" \(from flag --log-level\): expected one of fatal, error, warn, info, debug, trace, silent, got "loud"\. Fix: set it to one of those such as "info"\./);
  });
  it('rejects values outside each constraint', () => {
    const bad: Record<string, string> = {
      SWITCHBOARD_PORT: '-1', SWITCHBOARD_WEBSOCKET_MAX_BAD_FRAMES: '0', SWITCHBOARD_CHANNEL_MAX_LENGTH: '256',
      SWITCHBOARD_WEBSOCKET_PATH: 'ws', SWITCHBOARD_HOST: ' ', SWITCHBOARD_BROKER: 'kafka', SWITCHBOARD_SSE_MAX_CHANNELS: '1.5',
      SWITCHBOARD_COMPAT_SEED000_CHANNEL: 'a b', SWITCHBOARD_HISTORY_TTL: '30d',
    };
    for (const [env, value] of Object.entries(bad)) {
      assert.match(configError(() => loadConfig({ env: { [env]: value } })), new RegExp(`\\(from env ${env}\\): expected .* Fix: set it to `), env);
    }
  });
  it('reports every problem at once, one per line', () => {
    const message = configError(() => loadConfig({ env: { SWITCHBOARD_PORT: 'x', SWITCHBOARD_HISTORY_SIZE: '-1' } }));
    assert.equal(message.split('\n').length, 2);
    assert.match(message, /"port"/);
    assert.match(message, /"history.size"/);
  });
  it('refuses the same path for WebSocket and SSE', () => {
    assert.equal(configError(() => loadConfig({ argv: ['--sse.path', '/ws'] })),
      'config option "sse.path" (from flag --sse.path): must differ from websocket.path "/ws", got "/ws". Fix: set it to another path such as "/events".');
  });
  it('exposes the problems as data', () => {
    try {
      loadConfig({ env: { SWITCHBOARD_HISTORY_SIZE: 'abc' } });
    } catch (err) {
      assert.deepEqual((err as ConfigError).problems.map((p) => [p.option, p.source]), [['history.size', 'env SWITCHBOARD_HISTORY_SIZE']]);
    }
  });
});

describe('unknown options', () => {
  it('in a file, with the closest name', () => {
    const f = file('typo.yaml', 'history:\n  sise: 5\n');
    assert.equal(configError(() => loadConfig({ file: f })),
      `config option "history.sise" (from file ${f}): unknown option. Fix: rename it to "history.size".`);
    assert.match(configError(() => loadConfig({ file: file('bare.json', '{"pingInterval": 5}') })), /rename it to "websocket.pingInterval"/);
    assert.match(configError(() => loadConfig({ file: file('none.json', '{"zzzzzzzz": 1}') })), /"zzzzzzzz".*unknown option\. Fix: remove it/);
  });
  it('in flags, with the closest flag', () => {
    assert.equal(configError(() => loadConfig({ argv: ['--hostt', 'x'] })),
      'config option "--hostt" (from flag --hostt): unknown option. Fix: rename it to "--host".');
    assert.match(configError(() => loadConfig({ argv: ['serve'] })), /argument "serve" \(from command line\): not an option/);
    assert.match(configError(() => loadConfig({ argv: ['--port'] })), /"--port" \(from flag --port\): missing value/);
  });
  it('in SWITCHBOARD_* env, with the closest variable; other variables are ignored', () => {
    assert.equal(configError(() => loadConfig({ env: { SWITCHBOARD_PING_INTERVAL: '1s' } })),
      'config option "SWITCHBOARD_PING_INTERVAL" (from env SWITCHBOARD_PING_INTERVAL): unknown option. Fix: rename it to SWITCHBOARD_WEBSOCKET_PING_INTERVAL (option "websocket.pingInterval").');
    assert.equal(loadConfig({ env: { HOME: '/root', HISTORY_SIZE: 'abc' } }).port, 8080);
  });
  it('a group given a scalar', () => {
    assert.match(configError(() => loadConfig({ file: file('group.yaml', 'websocket: 7\n') })),
      /"websocket" \(from file .*\): expected a group of options, got 7\. Fix: nest its options under it/);
  });
});

describe('issue #12: config errors read alike, whatever their source', () => {
  it('a mistyped group in a file suggests the closest group, as flags and env do', () => {
    const f = file('group-typo.yaml', 'histroy:\n  size: 5\n');
    assert.equal(configError(() => loadConfig({ file: f })),
      `config option "histroy" (from file ${f}): unknown group of options. Fix: rename it to "history" (a group of options).`);
    assert.match(configError(() => loadConfig({ values: { websockte: { pingInterval: 5 } } })), /rename it to "websocket" \(a group of options\)/);
  });
  it('a field inside a structured option from a file names the file, not "default", in plain words', () => {
    const f = file('ns.yaml', 'namespaces:\n  - name: chat\n    publish: "yes"\n  - name: news\n    pubish: true\n  - subscribe: everyone\n');
    const lines = configError(() => loadConfig({ file: f })).split('\n');
    assert.deepEqual(lines, [
      `config option "namespaces[0].publish" (from file ${f}): expected true or false, got "yes". Fix: correct it (docs/configuration.md describes "namespaces").`,
      `config option "namespaces[1]" (from file ${f}): unknown field "pubish". Fix: rename "pubish" to "publish" (fields: name, subscribe, publish, presence, joinLeave, historySize, historyTtl, maxSubscribers, keyed, webhookPublications, maxKeys, tombstoneTtl, proxy).`,
      `config option "namespaces[2].name" (from file ${f}): missing (expected a string). Fix: add "name".`,
      `config option "namespaces[2].subscribe" (from file ${f}): expected one of anonymous, authenticated, token, got "everyone". Fix: set it to one of those.`,
    ]);
    for (const line of lines) assert.doesNotMatch(line, /Invalid input|Invalid option|received|from default/);
    assert.match(configError(() => loadConfig({ argv: ['--namespaces', '[{"name":"a","presence":1}]'] })),
      /^config option "namespaces\[0\]\.presence" \(from flag --namespaces\): expected true or false, got 1\./);
  });
  it('a clash with an option set elsewhere names where that one was set', () => {
    const f = file('clash.yaml', 'websocket:\n  path: /metrics\n');
    assert.match(configError(() => loadConfig({ file: f })),
      new RegExp(`^config option "metrics.path" \\(from default; websocket.path from file ${f.replace(/[.\\/]/g, '\\$&')}\\): must differ`));
  });
  it('the server\'s beyond-loopback refusal names where host came from (flag, env, file), not "config"', async () => {
    const { createSwitchboard } = await import('../../src/server.js');
    const f = file('host.yaml', 'host: 0.0.0.0\n');
    for (const [input, source] of [
      [{ argv: ['--host', '0.0.0.0'] }, 'flag --host'],
      [{ env: { SWITCHBOARD_HOST: '0.0.0.0' } }, 'env SWITCHBOARD_HOST'],
      [{ file: f }, `file ${f}`],
    ] as const) {
      const sb = createSwitchboard({ env: {}, config: loadConfig({ ...input, values: { port: 0, logLevel: 'silent' } }) });
      await assert.rejects(() => sb.listen(), (err: Error) => err instanceof ConfigError
        && err.message.startsWith(`config option "host" (from ${source}): listening on 0.0.0.0 (beyond loopback) needs`));
      await sb.shutdown();
    }
  });
});

describe('config files', () => {
  it('reads YAML (.yaml and .yml), nested or dotted', () => {
    assert.equal(loadConfig({ file: file('a.yml', 'history.size: 3\nsse:\n  retry: 1s\n') }).sse.retry, 1000);
    assert.equal(loadConfig({ file: file('b.yaml', 'history.size: 3\n') }).history.size, 3);
  });
  it('reads JSON', () => {
    const c = loadConfig({ file: file('c.json', '{"cors": {"origins": ["*"]}, "websocket": {"allowBinary": true}}') });
    assert.deepEqual(c.cors.origins, ['*']);
    assert.equal(c.websocket.allowBinary, true);
  });
  it('treats an empty file and empty groups as defaults', () => {
    assert.equal(loadConfig({ file: file('empty.yaml', '') }).port, 8080);
    assert.equal(loadConfig({ file: file('nullgroup.yaml', 'history:\n') }).history.size, 100);
  });
  it('explains unreadable, malformed and unsupported files', () => {
    assert.match(configError(() => loadConfig({ file: join(dir, 'missing.yaml') })), /config file ".*missing\.yaml" \(from argument\): cannot read it \(ENOENT\)\. Fix: check the path/);
    assert.match(configError(() => loadConfig({ file: file('broken.json', '{"port": }') })), /invalid JSON: .*Fix: correct the syntax/);
    assert.match(configError(() => loadConfig({ file: file('broken.yaml', 'a: [') })), /invalid YAML: .*Fix: correct the syntax/);
    assert.match(configError(() => loadConfig({ file: file('list.json', '[1]') })), /the top level is not a mapping/);
    assert.match(configError(() => loadConfig({ file: file('c.toml', 'port = 1') })), /unsupported extension "\.toml"\. Fix: use a \.json, \.yaml or \.yml file/);
    assert.match(configError(() => loadConfig({ env: { SWITCHBOARD_CONFIG: join(dir, 'nope.json') } })), /\(from env SWITCHBOARD_CONFIG\): cannot read it/);
  });
});

describe('docs/configuration.md', () => {
  it('equals the text generated from the schema (run npm run docs:config)', () => {
    const path = new URL('../../docs/configuration.md', import.meta.url);
    assert.equal(readFileSync(path, 'utf8'), renderConfigDocs(), 'docs/configuration.md is stale: run npm run docs:config');
  });
  it('documents every option with its env variable and default', () => {
    const docs = renderConfigDocs();
    for (const o of configOptions) assert.ok(docs.includes(`| \`${o.path}\` | \`${o.env}\` |`), o.path);
  });
  it('has a valid YAML example', () => {
    const c = loadConfig({ file: file('example.yaml', EXAMPLE_YAML) });
    assert.equal(c.port, 9000);
    assert.equal(c.history.ttl, 600_000);
  });
});

describe('workers', () => {
  it('more than one worker needs redis.url', () => {
    assert.match(configError(() => loadConfig({ argv: ['--workers', '2'] })), /"workers".*need the Redis broker.*redis\.url/s);
    assert.equal(loadConfig({ argv: ['--workers', '2', '--redis.url', 'redis://127.0.0.1:6379'] }).workers, 2);
  });
});

describe('secrets', () => {
  it('a JWT secret shorter than 32 bytes is refused with the fix', () => {
    assert.match(configError(() => loadConfig({ env: { SWITCHBOARD_JWT_SECRET: 'short' } })), /jwt\.secret.*at least 32 bytes.*openssl rand/s);
  });
});

describe('loadConfig values (library use)', () => {
  it('merges nested and dotted values over flags and defaults', () => {
    const c = loadConfig({ argv: ['--port', '9000', '--history.size', '7'], values: { port: 0, 'history.ttl': '1m', sse: { retry: 500 } } });
    assert.equal(c.port, 0);
    assert.equal(c.history.size, 7);
    assert.equal(c.history.ttl, 60_000);
    assert.equal(c.sse.retry, 500);
  });
  it('names an unknown value and its source', () => {
    assert.throws(() => loadConfig({ values: { histroy: { size: 1 } } }), (err: Error) => err instanceof ConfigError && /histroy/.test(err.message) && /code/.test(err.message));
  });
});
