/**
 * The whole configuration as one zod schema: every option, its default and its description. docs/configuration.md,
 * env variable names, flag names and error messages are all derived from this file (see fields.ts, docs.ts).
 */
import { z } from 'zod';
import { addressList, bool, bytes, channel, duration, fraction, group, httpUrl, int, isHttpUrl, jsonValue, nonEmpty, oneOf, optionRegistry, parseDuration, secret, str, stringList, urlPath,
  type OptionMeta } from './fields.js';

/** A namespace's proxy URL: empty (off) or absolute http(s). */
const proxyUrl = z.string().refine((v) => v === '' || isHttpUrl(v), 'empty, or an absolute http:// or https:// URL');

/** A namespace: channels named `<name>:...` share these rules. */
export const namespaceSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_\-.]{1,64}$/, 'a namespace name is 1-64 letters, digits and _-.'),
  /** Who may subscribe: anyone (`anonymous`), any authenticated user, or only with a token naming the channel (`token`). */
  subscribe: z.enum(['anonymous', 'authenticated', 'token']).default('authenticated'),
  /** Whether clients may publish (the server API always may). */
  publish: z.boolean().default(false),
  presence: z.boolean().default(true),
  joinLeave: z.boolean().default(false),
  /** History bounds for this namespace; the global `history.*` when absent. */
  historySize: z.number().int().min(0).optional(),
  historyTtl: z.union([z.number(), z.string()]).transform((v, ctx) => {
    const ms = parseDuration(v);
    if (ms === undefined) ctx.addIssue({ code: 'custom', message: 'a duration such as "5m"' });
    return ms ?? 0;
  }).optional(),
  /** Most subscribers of one channel on this node (0: no limit). */
  maxSubscribers: z.number().int().min(0).default(0),
  /** Keyed channels (docs/keyed-channels.md): every publication carries a key; the latest value per key is kept. */
  keyed: z.boolean().optional(),
  /** Send each publication of the namespace's channels to the webhooks (`webhooks.url`) as a `publication` event. */
  webhookPublications: z.boolean().default(false),
  /** Keyed channels: most keys per channel; the global `keyed.maxKeys` when absent. */
  maxKeys: z.number().int().min(1).optional(),
  /** Keyed channels: how long a deleted key's tombstone is kept; the global `keyed.tombstoneTtl` when absent. */
  tombstoneTtl: z.union([z.number(), z.string()]).transform((v, ctx) => {
    const ms = parseDuration(v);
    if (ms === undefined || ms === 0) ctx.addIssue({ code: 'custom', message: 'a duration above 0 such as "7d"' });
    return ms ?? 0;
  }).optional(),
  /**
   * Backend proxies of this namespace (docs/proxy.md): each URL replaces the global `proxy.<kind>.url` for the
   * namespace's channels (and `ns:` rpc methods); `""` turns that proxy off here. Absent: the global one.
   */
  proxy: z.strictObject({
    subscribe: proxyUrl.optional(),
    publish: proxyUrl.optional(),
    rpc: proxyUrl.optional(),
  }).optional(),
});
export type NamespaceConfig = z.output<typeof namespaceSchema>;

/** Names in Pusher URLs (`/apps/{appId}/…`, `/app/{key}`) and namespace names: letters, digits and `_-.`. */
const PUSHER_NAME = /^[A-Za-z0-9_\-.]+$/;

/** One Pusher app of `pusher.apps` (docs/compat.md, "Several apps"). */
export const pusherAppSchema = z.strictObject({
  appId: z.string().min(1).max(64).regex(PUSHER_NAME, 'an app id is 1-64 letters, digits and _-.'),
  key: z.string().min(1).max(128).regex(PUSHER_NAME, 'an app key is 1-128 letters, digits and _-.'),
  secret: z.string().min(1).max(256),
  /** The native namespace of the app's channels (`ns:{channel}`) and signed-in users; `""`: names map one to one. */
  namespace: z.union([z.literal(''), z.string().max(64).regex(PUSHER_NAME, 'a namespace name is 1-64 letters, digits and _-.')]).default(''),
  /** Whether `client-*` events are allowed; `pusher.clientEvents` when absent. */
  clientEvents: z.boolean().optional(),
});

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const configSchema = z.strictObject({
  port: int(8080, 'HTTP port for WebSocket, SSE and the server API. `PORT` is honoured too, below `SWITCHBOARD_PORT`. 0 picks a free port.', 0, 65535),
  host: nonEmpty('127.0.0.1', 'Bind address. Use `0.0.0.0` to accept connections from other hosts.'),
  logLevel: oneOf(LOG_LEVELS, 'info', 'Log level (pino). `LOG_LEVEL` is honoured too, below `SWITCHBOARD_LOG_LEVEL`.'),
  logFormat: oneOf(['auto', 'json', 'pretty'], 'auto', '`switchboard serve` log format: `json` (one JSON object per line, for log collectors), `pretty` (one readable line per entry, and a start line with the URL to open), or `auto`: pretty when stdout is a terminal, else JSON. Embedded servers log JSON unless given a logger.'),
  accessLog: oneOf(['off', 'info', 'debug'], 'info', 'HTTP access log: one line per HTTP request Switchboard answers (server API, SSE streams, metrics, health checks, demo page) with method, route, status, duration, bytes, client address and trace id, logged at this level when the response ends (an SSE stream: when it ends). `debug` keeps the lines out of the default `info` log; `off` writes none. WebSocket frames and SSE events are never logged one by one. See docs/operations.md.'),
  apiKey: str('', 'When non-empty, the server HTTP API requires `Authorization: apikey <key>` or `X-API-Key: <key>`. Required (with JWT auth) when the server listens beyond loopback.', 'change-me'),
  insecure: bool(false, 'Let a server bound beyond loopback run without JWT auth and an API key (development mode: user ids from `?user=`; without a key the server API still answers only loopback callers). Never in production.'),
  tls: group({
    cert: str('', 'PEM certificate file (with its chain) for HTTPS and WSS on `port`. Set with `tls.key`; then browsers get HTTP/2 (see `http2.*`). Read again when it changes (`tls.reloadInterval`), without dropping connections. See docs/security.md.', '/etc/switchboard/tls/tls.crt'),
    key: str('', 'PEM private key file of `tls.cert`. Keep it readable only by the server\'s user.', '/etc/switchboard/tls/tls.key'),
    reloadInterval: duration('10s', 'How often the certificate and key files are checked for a change (size, mtime, inode; symlink swaps as in a Kubernetes secret count). A changed pair that loads is used for new connections; a bad one is logged once and the previous kept. 0: never reloaded.'),
  }),
  http2: group({
    enabled: bool(true, 'With `tls.cert`: offer HTTP/2 (ALPN `h2`) for SSE and the server API, with HTTP/1.1 on the same port for other clients and WebSocket upgrades. Off: HTTPS is HTTP/1.1 only (browsers then open at most 6 streams per origin).'),
    maxConcurrentStreams: int(100, 'Most concurrent streams (SSE streams and API requests) a client may open on one HTTP/2 connection.', 1, 10000),
    idleTimeout: duration('2m', 'An HTTP/2 connection with no open stream and no traffic for this long is closed (GOAWAY). 0: never.'),
  }),
  jwt: group({
    secret: secret('HMAC secret for connection tokens (HS256/HS384/HS512), at least 32 bytes. Setting it turns JWT authentication on.'),
    previousSecret: secret('The previous HMAC secret (at least 32 bytes), still accepted while clients move to tokens signed with the new one.'),
    publicKey: str('', 'PEM public key (RSA or EC) for RS*/PS*/ES* tokens. Turns JWT authentication on.', ''),
    jwksUrl: str('', 'JWKS URL for RS*/PS*/ES*/EdDSA tokens, cached and refetched on an unknown `kid`. Turns JWT authentication on.', 'https://auth.example.com/.well-known/jwks.json'),
    audience: str('', 'When non-empty, tokens must carry this `aud`.', ''),
    issuer: str('', 'When non-empty, tokens must carry this `iss`.', ''),
    cookie: str('switchboard_token', 'Cookie that may carry the connection token (besides `Authorization: Bearer` and `?token=`).'),
    clockTolerance: duration('5s', 'Clock skew allowed when checking `exp`, `nbf` and `iat`.'),
  }),
  broker: oneOf(['memory', 'redis'], 'memory', 'Broker between nodes: `memory` keeps everything in this process; `redis` shares channels, history and presence between nodes through Redis (`redis.url`). Setting `redis.url` selects `redis`.'),
  workers: int(0, 'Worker processes sharing the port, each a node on the shared Redis broker. 0: one per CPU core when `redis.url` is set, else 1. More than 1 needs `redis.url` (processes cannot share the memory broker).', 0, 256),
  redis: group({
    url: str('', 'Redis URL (`redis://host:6379`, `rediss://` for TLS). Setting it selects the Redis broker. With `redis.cluster`: one or more seed nodes of the cluster, separated by commas (`redis://10.0.0.1:6379,redis://10.0.0.2:6379`).', 'redis://127.0.0.1:6379'),
    cluster: bool(false, 'Redis is a Redis Cluster (Redis 7.0 or newer): commands are routed by key slot, every key of a channel shares one slot (hash tag), and pub/sub is sharded (SPUBLISH/SSUBSCRIBE). The rest of the cluster is discovered from the `redis.url` seeds.'),
    prefix: str('sb', 'Prefix of every Redis key and pub/sub channel, so several deployments can share one Redis. No `{` or `}` with a cluster.'),
    presenceTtl: duration('60s', 'Presence entries of a node that stops refreshing them (it died) expire after this long.'),
    healthCheckInterval: duration('5s', 'Every this long each node PINGs its Redis command and subscriber connection(s); one that has not answered within this interval or `redis.commandTimeout`, whichever is shorter (it died silently, or Redis is frozen), is replaced, the node being not ready meanwhile; a replaced subscriber subscribes every channel again and reads back what was published meanwhile. 0 disables the check.'),
    commandTimeout: duration('5s', 'Deadline of every call to Redis (publish, history, presence, state, control messages, node reports, subscribe), holding even after the command was sent. When it passes, the call fails (a write with `outcome_unknown`: it may or may not have taken effect; a read with `unavailable`) and the connection is treated as dead: the node is not ready until a fresh one is connected.'),
    reportChannels: int(1000, 'Most channels a node lists in its node report (those with the most local subscribers), from which `GET /api/channels` answers for every live node; a longer list is cut and the answer says so.', 0, 100000),
  }),
  history: group({
    size: int(100, 'Publications kept per channel for history and resume. 0 disables history.'),
    ttl: duration('5m', 'Maximum age of kept publications.'),
    metaTtl: duration('24h', 'How long an idle channel keeps its stream position (epoch/offset), so clients can still resume or learn that they cannot.'),
    maxChannels: int(1000000, 'Memory broker: most channels with stream state (positions, history) in this process. Only a publish or a subscriber creates stream state (reads of a channel without it create nothing). Past the limit a new channel evicts the least recently active idle channel (no subscriber on this node, no keyed state); it is refused with `limit_exceeded` only when every channel is in use. 0: no limit. The Redis broker does not count channels: bound Redis with `maxmemory`.', 0),
    maxBytes: int(0, 'Memory broker: most bytes of retained history in this process, across all channels (each kept publication counts its data, event, channel, key and trace context, plus about 160 bytes). Past it the oldest publications of all channels are evicted first; a resume that needs one is told `recovered: false` (`too_old`). Keyed channels\' latest-per-key state counts too but is never evicted: it may use half, past which a keyed upsert that grows it is refused with `limit_exceeded`. 0: a quarter of the V8 heap limit (`node --max-old-space-size` moves it). The Redis broker keeps history in Redis: bound it with `maxmemory`.', 0, undefined, 'bytes (integer ≥ 0)'),
  }),
  keyed: group({
    maxKeys: int(100000, 'Keyed channels: most keys (live and tombstones) per channel. A new key past it first pushes out the oldest tombstone, else its publish is refused with `limit_exceeded`. Namespaces may set their own (`maxKeys`).', 1),
    maxKeyLength: int(256, 'Keyed channels: longest key, in characters (no control characters).', 1, 4096),
    tombstoneTtl: duration('7d', 'Keyed channels: how long a deleted key is remembered (a tombstone), so a client offline for less than this catches up with a delta instead of a full snapshot. Namespaces may set their own (`tombstoneTtl`).'),
    pageSize: int(500, 'Keyed channels: state entries per broker read while a snapshot is sent (paced by the client\'s reading), and the default page of `GET /api/state`.', 1, 1000),
  }),
  websocket: group({
    path: urlPath('/ws', 'URL path of the WebSocket endpoint.'),
    allowedOrigins: stringList('Browser origins allowed to open WebSockets besides the server\'s own (cross-site WebSocket hijacking protection); `*` allows any. Requests without an Origin header (non-browser clients) are allowed. In development mode any origin is allowed.', ['https://app.example.com']),
    pingInterval: duration('25s', 'Interval of server ping frames. 0 disables pings.'),
    pongTimeout: duration('10s', 'Close the connection if no pong arrives this long after a ping.'),
    writeTimeout: duration('10s', 'Close the connection if a write stays unflushed this long.'),
    maxMessageSize: bytes(524288, 'Largest incoming message in bytes (512 KiB).'),
    allowBinary: bool(false, 'Accept binary frames as well as text frames.'),
    perMessageDeflate: bool(false, 'Negotiate permessage-deflate compression (costs CPU and memory per connection).'),
    maxBadFrames: int(10, 'Malformed frames tolerated per connection before closing it with code 4500.', 1),
  }),
  sse: group({
    path: urlPath('/events', 'URL path of the Server-Sent Events endpoint.'),
    heartbeatInterval: duration('15s', 'Interval of heartbeats that keep proxies from closing idle streams.'),
    heartbeatEvent: bool(false, 'Send heartbeats as a visible `ping` event instead of an SSE comment.'),
    retry: duration('3s', 'Reconnect delay sent as `retry:` at the start of each stream.'),
    maxChannels: int(32, 'Channels one SSE stream may subscribe to.', 1),
  }),
  client: group({
    queueMaxBytes: bytes(1048576, 'Bound of each connection\'s outbound queue; when full the client is disconnected as "slow".'),
    maxSubscriptions: int(128, 'Channels one connection may subscribe to.', 1),
    maxPublishSize: bytes(65536, 'Largest publication a client may publish (its data as JSON text, in bytes; 64 KiB), over WebSocket and the seed dialects alike; larger ones are refused with `message_too_large`. Separate from `websocket.maxMessageSize` (the whole frame). The server API is bounded by `api.maxBodySize` instead.'),
    maxReplyBytes: bytes(1048576, 'Largest reply to one WebSocket command (`history`) in bytes (1 MiB): a longer one is cut after whole publications and says where to continue (`next`). A single publication larger than this still comes, alone.'),
    anonymousUserPrefix: str('anon-', 'Prefix of the generated user id of anonymous connections.'),
    allowAnonymous: bool(false, 'With JWT authentication on, accept connections that bring no token, as anonymous users; namespaces decide what they may do.'),
    directMessages: oneOf(['off', 'authenticated', 'anonymous'], 'authenticated', 'Who may send a message straight to another user\'s connections (`send`, seed 002 `send_to_user`): `off` (nobody; only the server API), `authenticated` (users with a token, or any named user in development mode), or `anonymous` (every connection). The recipient sees the sender in `from`. See docs/security.md.'),
  }),
  channel: group({
    maxLength: int(255, 'Longest channel name accepted.', 1, 255),
    presence: bool(true, 'Track who is subscribed to each channel (presence queries).'),
    joinLeave: bool(false, 'Send join/leave events to the members of a channel.'),
    publish: bool(true, 'Whether clients may publish to channels of the default namespace (channels without a declared namespace prefix).'),
    subscribe: oneOf(['anonymous', 'authenticated'], 'authenticated', 'Who may subscribe to channels of the default namespace.'),
    webhookPublications: bool(false, 'Send each publication of the default namespace\'s channels to the webhooks (`webhooks.url`) as a `publication` event. Namespaces set their own (`webhookPublications`).'),
  }),
  namespaces: jsonValue(z.array(namespaceSchema).max(1000), [], 'list of namespaces',
    'Namespaces by channel prefix (`chat:room1` is in namespace `chat`), each with its own rules: `subscribe` (`anonymous`, `authenticated` or `token`), `publish`, `presence`, `joinLeave`, `historySize`, `historyTtl`, `maxSubscribers`, `keyed` (with `maxKeys`, `tombstoneTtl`; see docs/keyed-channels.md), and `proxy` (`{subscribe, publish, rpc}` URLs replacing the global `proxy.*.url` for the namespace, `""` turning one off; see docs/proxy.md). When any is declared, a channel with an undeclared prefix is refused (`unknown_namespace`). Channels without a prefix use the default namespace (`channel.*`). See docs/security.md.',
    [{ name: 'chat', publish: true }, { name: 'news', subscribe: 'anonymous' }]),
  limits: group({
    connections: int(100000, 'Most open connections on this node (0: no limit).'),
    connectionsPerIp: int(1000, 'Most open connections from one IP address (0: no limit). Behind a proxy every client shares its address: raise it or turn it off there.'),
    connectionsPerUser: int(100, 'Most open connections of one user (0: no limit).'),
    sseStreamsPerIp: int(200, 'Most open SSE streams from one IP address (0: no limit).'),
    connectRate: int(50, 'New connections accepted per second from one IP address, with a burst of twice that (0: no limit).'),
    commandRate: int(100, 'Commands per second one WebSocket connection may send, with a burst of twice that (0: no limit). Over it commands are refused with `too_many_requests`.'),
    commandRejectLimit: int(100, 'Refused commands after which a connection that keeps flooding is closed with 4006 (rate limited).', 1),
    handshakeTimeout: duration('10s', 'Time a client has to send its request headers (WebSocket upgrade, SSE, API): slow-header (slowloris) clients are cut off.'),
  }),
  publish: group({
    idempotencyWindow: duration('5m', 'How long an `idempotency_key` of a publish (API and WebSocket) is remembered: a retry with the same key to the same channel within it publishes nothing and answers the first publication\'s position. Redis broker: shared by every node (a key per channel, expiring after the window). 0: keys are not remembered (every publish publishes). See docs/api.md.'),
    idempotencyMaxKeys: int(100000, 'Memory broker: most idempotency keys remembered at once, across channels. Past it (or `publish.idempotencyMaxBytes`) the oldest are forgotten first, so a retry of a very old key may publish again. The Redis broker expires each key after the window instead: bound Redis with `maxmemory`.', 1),
    idempotencyMaxBytes: bytes(16777216, 'Memory broker: most bytes of idempotency keys remembered at once (16 MiB, counted roughly: key, channel and about 100 bytes per entry). Past it the oldest are forgotten first.'),
  }),
  delivery: group({
    maxWriteDelay: duration('20ms', 'Upper bound of the adaptive write window that batches a connection\'s writes. 0 always writes at the end of the event-loop turn.'),
  }),
  delta: group({
    fullEvery: int(20, 'Delta compression (subscribe `"delta": "fossil"`, docs/protocol.md): at most this many publications in a row to one subscription, the first of them a full payload and the rest fossil deltas; 1 sends only full payloads.', 1, 100000),
    maxBases: int(4, 'Delta compression: most deltas of one publication kept, one per distinct previous publication its subscribers were sent (subscribers at the same position share one). Recipients at yet another base get a full payload.', 1, 64),
  }),
  api: group({
    maxBodySize: bytes(1048576, 'Largest server API request body in bytes.'),
    maxHistoryLimit: int(1000, 'Most publications one history request may return.', 1),
    maxReplyBytes: bytes(1048576, 'Largest `GET /api/history` and `GET /api/state` response in bytes (1 MiB): a longer one is cut after whole publications and says where to continue (`next`). A single publication larger than this still comes, alone.'),
  }),
  cors: group({
    origins: stringList('Origins allowed to use SSE and the server API; `*` allows any. Empty allows none (same-origin only).', ['https://app.example.com']),
  }),
  proxy: group({
    connect: group({
      url: httpUrl('Connect proxy (docs/proxy.md): each new connection that brings no JWT is POSTed here (allow-listed headers and cookies, the `data` query parameter); the application\'s backend answers with the user id, info, channels to subscribe and an expiry, or refuses. Lets cookie-session apps skip JWTs. Empty: off.', 'http://127.0.0.1:3000/switchboard/connect'),
      headers: stringList('Request headers forwarded to the connect proxy (lower-case names). Others are never sent.', ['authorization', 'origin', 'user-agent', 'x-session'], ['authorization', 'origin', 'user-agent']),
      cookies: stringList('Cookies forwarded to the connect proxy, by name (e.g. the app\'s session cookie). Others are never sent; empty: none.', ['session']),
    }),
    subscribe: group({
      url: httpUrl('Subscribe proxy: the backend allows or refuses each subscription (and presence and history reads by non-subscribers). Namespaces may choose their own (`proxy.subscribe` of a namespace). Empty: off.', 'http://127.0.0.1:3000/switchboard/subscribe'),
    }),
    publish: group({
      url: httpUrl('Publish proxy: the backend allows or refuses each client publication, and may replace its data. Namespaces may choose their own. Empty: off.', 'http://127.0.0.1:3000/switchboard/publish'),
    }),
    rpc: group({
      url: httpUrl('RPC proxy: the native `rpc` command `{method, data}` is POSTed here and the backend\'s answer is the reply. A method `ns:name` uses namespace `ns`\'s rpc proxy. Empty: `rpc` answers `feature_disabled`.', 'http://127.0.0.1:3000/switchboard/rpc'),
    }),
    secret: str('', 'Sent to every proxy as `X-Switchboard-Proxy-Secret`, so the backend can tell Switchboard\'s calls from others. Empty: no header.', 'change-me-too'),
    timeout: duration('5s', 'Deadline of one proxy call, from sending the request to the end of the answer. Past it the client gets `backend_timeout` (connect: HTTP 504).'),
    maxConcurrency: int(256, 'Most proxy calls in flight on this node, of every kind together; past it a call fails at once with `backend_unavailable` (connect: HTTP 503) instead of queueing.', 1),
    maxResponseSize: bytes(65536, 'Largest proxy answer read, in bytes (64 KiB); a longer one is cut off and the call fails with `backend_invalid`.'),
    cacheMaxBytes: int(8388608, 'Bytes of subscribe and rpc answers kept when the backend allows it (`cache_ttl` in its answer), across all users (8 MiB); the least recently used go first. 0: nothing is cached.', 0, undefined, 'bytes (integer ≥ 0)'),
    trusted: addressList('Reverse proxies and load balancers (IP addresses or CIDR ranges such as `10.0.0.0/8`) whose `X-Forwarded-For` is believed: behind them the client address — for per-IP limits, logs and spans — is the last address in that header that is not itself a trusted proxy. Empty: the socket\'s peer is the client. See docs/security.md.', ['10.0.0.0/8', '127.0.0.1']),
  }),
  webhooks: group({
    url: stringList('URLs that receive the server\'s events (`client_connected`, `channel_occupied`, `member_added`, ...) as signed, batched POSTs, comma-separated in env and flags. Empty: no webhooks. Each URL gets every event, in order per channel, at least once. Needs `webhooks.secret`. See docs/webhooks.md.', ['https://app.example.com/switchboard/events']),
    secret: secret('HMAC-SHA256 key (at least 32 bytes) that signs each webhook request (`X-Switchboard-Signature` over the timestamp and the body), so the receiver can tell it came from this server.'),
    batchSize: int(100, 'Most events in one webhook request.', 1, 10000),
    maxQueue: int(100000, 'Most events waiting for delivery (memory broker: in this process; Redis broker: in the shared Redis stream, and as many again per node while Redis is unreachable). Past it events are dropped (the oldest waiting one in the queue; a new one in a node\'s buffer while Redis is unreachable), counted (`switchboard_webhook_events_dropped_total`) and logged.', 1),
    timeout: duration('10s', 'Deadline of one webhook request; one that has not answered 2xx by then is retried.'),
    retryMin: duration('500ms', 'First delay before a failed webhook request is retried; it doubles on each failure, up to `webhooks.retryMax` (with jitter).'),
    retryMax: duration('1m', 'Longest delay between retries of a webhook request. Retries go on until it succeeds: events are never given up.'),
    lockTtl: duration('10s', 'Redis broker: one node at a time delivers the shared queue (so each URL gets events in order); it holds a lock renewed every third of this. When it dies, another node takes over after at most this long and resumes where delivery stopped.'),
  }),
  metrics: group({
    enabled: bool(true, 'Serve Prometheus metrics at `metrics.path`.'),
    path: urlPath('/metrics', 'URL path of the Prometheus metrics endpoint.'),
    public: bool(false, 'Serve metrics without the API key. By default /metrics follows the server API rule: the API key (also as `Authorization: Bearer <key>`), or loopback callers when no key is set.'),
  }),
  tracing: group({
    writeSampleRate: fraction(0.1, 'Fraction of deliveries whose socket write gets its own span when tracing is on (0 disables, 1 traces every write). Tracing itself is turned on by the standard OTEL_* environment variables; see docs/operations.md.'),
    maxWriteSpans: int(16, 'Most write spans per publication on each node (0: no limit). Keeps a publication to thousands of subscribers a readable trace, and its cost bounded.', 0),
  }),
  shutdown: group({
    timeout: duration('10s', 'How long a graceful shutdown waits for connections to drain before closing them.'),
  }),
  compat: group({
    seed000Channel: channel('broadcast', 'Channel that seed 000 clients (`{"action", "data"}` frames) join on their first frame; their `chat` messages are broadcast on it.'),
    centrifuge: bool(true, 'Accept Centrifuge JSON protocol clients (`centrifuge-js` 5.x and other Centrifugo SDKs) at `/connection/websocket`, authenticated and checked like native WebSocket clients (docs/compat.md). Off: that path does not exist.'),
  }),
  admin: group({
    enabled: bool(false, 'Serve the admin console at `/admin` (docs/admin.md): nodes, channels, connections and users, with actions through the server API. Off, `/admin` does not exist, except in development mode (no JWT auth) on a loopback host, where it is on. Operators sign in with `apiKey` or `admin.secret`.'),
    secret: secret('A dedicated sign-in secret for the admin console (at least 32 bytes), besides `apiKey`. With neither set, only callers on this machine (loopback) may sign in, without a secret.'),
    sessionTtl: duration('8h', 'How long an admin console session lasts after sign-in (its cookie expires then too).'),
    maxSessions: int(64, 'Most admin console sessions kept at once; signing in beyond it ends the oldest session.', 1, 10000),
    signInAttempts: int(5, 'Failed admin sign-ins allowed per client address per minute; further attempts get 429 until the minute has passed.', 1, 1000),
    signInAddresses: int(4096, 'Most client addresses whose failed sign-ins are tracked at once (a bounded table; when full, the oldest entry is forgotten).', 1, 1_000_000),
    maxStreams: int(16, 'Most concurrent admin console streams on this node (stats streams and channel tails together); one more gets 429.', 1, 1000),
    statsInterval: duration('2s', 'How often the admin console\'s stats stream sends every node\'s stats (at least 500ms).'),
  }),
  pusher: group({
    appId: str('', 'Pusher Channels compatibility (docs/compat.md): the app id of `POST /apps/{appId}/events` and the other Pusher HTTP API paths, for the app whose channel names are native channel names one to one. Empty (the default): no such app, and the Pusher endpoints are off unless `pusher.apps` names apps. Set together with `pusher.key` and `pusher.secret`.', '12345'),
    key: str('', 'The Pusher app key: clients connect to `/app/{key}` (pusher-js `new Pusher(key, {wsHost, wsPort})`), and the HTTP API and channel signatures name it.', 'app-key'),
    secret: str('', 'The Pusher app secret: signs channel authorizations (`socket_id:channel[:channel_data]`), user sign-ins and HTTP API requests (HMAC-SHA256). Keep it out of browsers.', 'change-me'),
    clientEvents: bool(true, 'Allow Pusher client events (`client-*`) on `private-` and `presence-` channels a connection is subscribed to; the default of the apps in `pusher.apps`, which may set their own `clientEvents`. They are client publishes: the namespace\'s `publish` rule and `client.maxPublishSize` apply too.'),
    activityTimeout: duration('120s', 'The `activity_timeout` told to Pusher clients in `pusher:connection_established` (whole seconds): a client silent that long sends `pusher:ping`.'),
    timestampWindow: duration('600s', 'How far the `auth_timestamp` of a signed Pusher HTTP API request may be from the server\'s clock (either way) before it is refused with 401.'),
    apps: jsonValue(z.array(pusherAppSchema).max(100), [], 'list of Pusher apps (at most 100)',
      'More Pusher apps on this server, each `{appId, key, secret, namespace, clientEvents}`, besides or instead of the one `pusher.appId`/`key`/`secret` name. Apps are kept apart: the channels of an app with `namespace: "ns"` are the native channels `ns:{channel}` (its namespace rules apply; declare it in `namespaces` when any namespace is declared), its signed-in users the native users `ns:{id}`; one app at most (`pusher.appId`, or one with `namespace` empty) maps channel names one to one. Ids, keys and namespaces are unique; `clientEvents` defaults to `pusher.clientEvents`. In env and flags: JSON text (`SWITCHBOARD_PUSHER_APPS=\'[{"appId":"2","key":"k2","secret":"…","namespace":"app2"}]\'`). See docs/compat.md.',
      [{ appId: '2', key: 'app2-key', secret: 'app2-secret', namespace: 'app2' }]),
  }),
  sdk: group({
    serve: bool(true, 'Serve the browser SDK bundle (`dist/client/switchboard.min.js`, built by `npm run build`) at `sdk.path`, loadable from any origin (a public script, no credentials). See docs/client.md.'),
    path: urlPath('/switchboard.min.js', 'URL path of the browser SDK bundle.'),
  }),
  demo: group({
    enabled: bool(true, 'Serve the demo page (chat with presence and history, notifications, a live data stream; built into `dist/web` by `npm run build`) at `/`. Off: `/` answers a JSON index of the endpoints. See docs/operations.md.'),
    producer: bool(false, 'Run the built-in demo producer: fake metrics published as `data_update` events to `demo.channel` every `demo.producerInterval`. It also turns on `POST /demo/notify`, which lets any visitor send a notification to any user: for demos only, never in production.'),
    producerInterval: duration('1s', 'Interval of the demo producer\'s publications (at least 100ms).'),
    channel: channel('demo.stream', 'Channel of the demo producer\'s `data_update` events (the demo page\'s live stream).'),
  }),
}).superRefine((c, ctx) => {
  if (c.demo.producer && c.demo.producerInterval < 100) {
    ctx.addIssue({ code: 'custom', path: ['demo', 'producerInterval'], message: 'must be at least 100ms (the producer publishes once per interval)',
      params: { fix: 'set it to a duration such as "1s"', related: ['demo.producer'] } });
  }
  // Both endpoints hang off one HTTP server: the same path would make one of them unreachable.
  if (c.admin.statsInterval < 500) {
    ctx.addIssue({ code: 'custom', path: ['admin', 'statsInterval'], message: 'must be at least 500ms',
      params: { fix: 'set it to a duration such as "2s"' } });
  }
  if (c.workers > 1 && !c.redis.url) {
    ctx.addIssue({ code: 'custom', path: ['workers'], message: 'several worker processes need the Redis broker (they cannot share the memory broker)',
      params: { fix: 'set redis.url (SWITCHBOARD_REDIS_URL), or run one worker' } });
  }
  if (c.redis.commandTimeout < 1) {
    ctx.addIssue({ code: 'custom', path: ['redis', 'commandTimeout'], message: 'must be at least 1ms (every Redis call needs a deadline)',
      params: { fix: 'set it to a duration such as "5s"' } });
  }
  if (c.redis.url.includes(',') && !c.redis.cluster) {
    ctx.addIssue({ code: 'custom', path: ['redis', 'url'], message: 'several URLs need redis.cluster: true (they are the seed nodes of a Redis Cluster)',
      params: { fix: 'set redis.cluster (SWITCHBOARD_REDIS_CLUSTER=1), or give one URL' } });
  }
  if ((c.tls.cert === '') !== (c.tls.key === '')) {
    ctx.addIssue({ code: 'custom', path: ['tls', c.tls.cert === '' ? 'cert' : 'key'], message: 'tls.cert and tls.key are set together',
      params: { fix: 'set both (SWITCHBOARD_TLS_CERT and SWITCHBOARD_TLS_KEY) to PEM files, or neither' } });
  }
  if (c.broker === 'redis' && !c.redis.url) {
    ctx.addIssue({ code: 'custom', path: ['broker'], message: 'the redis broker needs redis.url',
      params: { fix: 'set redis.url (SWITCHBOARD_REDIS_URL) such as "redis://127.0.0.1:6379"' } });
  }
  if (c.metrics.path === c.websocket.path || c.metrics.path === c.sse.path) {
    ctx.addIssue({ code: 'custom', path: ['metrics', 'path'], message: `must differ from websocket.path and sse.path`,
      params: { fix: 'set it to another path such as "/metrics"', related: ['websocket.path', 'sse.path'] } });
  }
  const pusherSet = [c.pusher.appId, c.pusher.key, c.pusher.secret].filter((v) => v !== '').length;
  if (pusherSet > 0 && pusherSet < 3) {
    ctx.addIssue({ code: 'custom', path: ['pusher', c.pusher.appId === '' ? 'appId' : c.pusher.key === '' ? 'key' : 'secret'], message: 'pusher.appId, pusher.key and pusher.secret are set together',
      params: { fix: 'set all three (SWITCHBOARD_PUSHER_APP_ID, SWITCHBOARD_PUSHER_KEY, SWITCHBOARD_PUSHER_SECRET), or none' } });
  }
  checkPusherApps(c, ctx);
  if (c.webhooks.url.length > 0 && !c.webhooks.secret) {
    ctx.addIssue({ code: 'custom', path: ['webhooks', 'secret'], message: 'webhooks need a signing secret (receivers verify each request with it)',
      params: { fix: 'set webhooks.secret (SWITCHBOARD_WEBHOOKS_SECRET) to a random string of at least 32 bytes (openssl rand -hex 32)', related: ['webhooks.url'] } });
  }
  if (c.webhooks.url.length > 0 && c.redis.cluster) {
    ctx.addIssue({ code: 'custom', path: ['webhooks', 'url'], message: 'webhooks are not supported on a Redis Cluster yet (their queue is one stream on one Redis server)',
      params: { fix: 'use a single Redis server, or leave webhooks.url empty', related: ['redis.cluster'] } });
  }
  for (const u of c.webhooks.url) {
    if (!/^https?:\/\/[^/]/.test(u)) {
      ctx.addIssue({ code: 'custom', path: ['webhooks', 'url'], message: `"${u}" is not an http(s) URL`,
        params: { fix: 'give URLs such as "https://app.example.com/switchboard/events", separated by commas' } });
    }
  }
  if (c.websocket.path === c.sse.path) {
    ctx.addIssue({ code: 'custom', path: ['sse', 'path'], message: `must differ from websocket.path "${c.websocket.path}"`,
      params: { fix: 'set it to another path such as "/events"', related: ['websocket.path'] } });
  }
});

/**
 * Pusher apps are told apart by id (HTTP API paths), key (WebSocket paths) and namespace (their channels): each is
 * unique over `pusher.appId` (namespace `""`) and `pusher.apps`. A namespace must be declared when namespaces are
 * (else every channel of the app is `unknown_namespace`).
 */
function checkPusherApps(c: z.output<typeof configSchema>, ctx: z.RefinementCtx): void {
  const owners = { appId: new Map<string, string>(), key: new Map<string, string>(), namespace: new Map<string, string>() };
  const declared = new Set(c.namespaces.map((n) => n.name));
  const apps = [
    ...(c.pusher.appId === '' ? [] : [{ a: { appId: c.pusher.appId, key: c.pusher.key, namespace: '' }, where: 'pusher.appId', path: ['pusher'] as PropertyKey[] }]),
    ...c.pusher.apps.map((a, i) => ({ a, where: `pusher.apps[${i}]`, path: ['pusher', 'apps', i] as PropertyKey[] })),
  ];
  for (const { a, where, path } of apps) {
    for (const field of ['appId', 'key', 'namespace'] as const) {
      const other = owners[field].get(a[field]);
      if (other === undefined) {
        owners[field].set(a[field], where);
        continue;
      }
      const what = field === 'namespace' && a.namespace === '' ? 'an empty namespace (channel names mapped one to one)' : `${field} "${a[field]}"`;
      ctx.addIssue({ code: 'custom', path: where === 'pusher.appId' ? ['pusher', field] : [...path, field], message: `${what} is taken by ${other} already: each Pusher app needs its own`,
        params: { fix: field === 'namespace' ? 'give every app but one a namespace of its own, such as "app2"' : `give this app another ${field}` } });
    }
    if (a.namespace !== '' && declared.size > 0 && !declared.has(a.namespace)) {
      ctx.addIssue({ code: 'custom', path: [...path, 'namespace'], message: `namespace "${a.namespace}" is not declared in namespaces (its channels would all be unknown_namespace)`,
        params: { fix: `add {"name":"${a.namespace}","subscribe":"authenticated","presence":true,"joinLeave":true} to namespaces` } });
    }
  }
}

type DeepReadonly<T> = T extends readonly (infer U)[] ? readonly DeepReadonly<U>[]
  : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;

/** The parsed configuration: durations in milliseconds, every default filled in, deeply readonly (and frozen). */
export type Config = DeepReadonly<z.output<typeof configSchema>>;

export interface ConfigOption extends OptionMeta {
  /** Dotted path, e.g. "websocket.pingInterval". */
  readonly path: string;
  /** e.g. "SWITCHBOARD_WEBSOCKET_PING_INTERVAL". */
  readonly env: string;
  /** e.g. "--websocket.pingInterval". */
  readonly flag: string;
}

/** "websocket.pingInterval" → "SWITCHBOARD_WEBSOCKET_PING_INTERVAL"; digits stay with their word (seed000Channel → SEED000_CHANNEL). */
export function envName(path: string): string {
  return 'SWITCHBOARD_' + path.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/\./g, '_').toUpperCase();
}

function collect(shape: z.ZodRawShape, prefix: string, out: ConfigOption[]): ConfigOption[] {
  for (const [key, schema] of Object.entries(shape)) {
    const path = prefix + key;
    const meta = optionRegistry.get(schema);
    if (meta) out.push({ ...meta, path, env: envName(path), flag: `--${path}` });
    else if (schema instanceof z.ZodPrefault && schema.unwrap() instanceof z.ZodObject) {
      collect((schema.unwrap() as z.ZodObject).shape, `${path}.`, out);
    } else throw new Error(`config schema: "${path}" is neither an option nor a group`);
  }
  return out;
}

/** Every option in schema order, flattened. */
export const configOptions: readonly ConfigOption[] = Object.freeze(collect(configSchema.shape, '', []));
