/** The broker and authenticator the config selects. */
import { getHeapStatistics } from 'node:v8';
import { InsecureQueryAuthenticator, type Authenticator } from '../auth/identity.js';
import { createJwtAuthenticator } from '../auth/jwt.js';
import type { Broker } from '../broker/broker.js';
import { createMemoryBroker } from '../broker/memory.js';
import { createRedisBroker } from '../broker/redis.js';
import type { Config } from '../config/index.js';
import type { Logger } from '../observability/logger.js';
import { inc, type Counters } from '../observability/counters.js';
import { ProxyBackend } from '../auth/proxy/backend.js';
import { ConnectProxyAuthenticator } from '../auth/proxy/connect.js';

/** The Redis broker when `redis.url` is set (or `broker: redis`), else the in-process memory broker. */
export function createBroker(config: Config, logger: Logger): Broker {
  const history = { size: config.history.size, ttlMs: config.history.ttl };
  if (config.redis.url || config.broker === 'redis') {
    return createRedisBroker({
      url: config.redis.url,
      cluster: config.redis.cluster,
      healthCheckIntervalMs: config.redis.healthCheckInterval,
      commandTimeoutMs: config.redis.commandTimeout,
      prefix: config.redis.prefix,
      history,
      metaTtlMs: config.history.metaTtl,
      presenceTtlMs: config.redis.presenceTtl,
      // The broker logs pino-style (fields object, then message).
      logger: { warn: (...a: unknown[]) => logger.warn(...(a as [object, string])), error: (...a: unknown[]) => logger.error(...(a as [object, string])) },
    });
  }
  return createMemoryBroker({
    history,
    metaTtlMs: config.history.metaTtl,
    maxChannels: config.history.maxChannels,
    maxBytes: historyMaxBytes(config),
    idempotencyMaxKeys: config.publish.idempotencyMaxKeys,
    idempotencyMaxBytes: config.publish.idempotencyMaxBytes,
  });
}

/** `history.maxBytes`, where 0 means a quarter of this process's V8 heap limit (`--max-old-space-size` moves it). */
export function historyMaxBytes(config: Config): number {
  return config.history.maxBytes || Math.floor(getHeapStatistics().heap_size_limit / 4);
}

/**
 * JWT authentication when a key is configured (`jwt.secret`, `jwt.publicKey` or `jwt.jwksUrl`); the connect proxy
 * when `proxy.connect.url` is set (with JWT for connections that bring a token, when both are); else development mode.
 */
export function createAuthenticator(config: Config, backend?: ProxyBackend): Authenticator {
  const j = config.jwt;
  const jwt = !j.secret && !j.publicKey && !j.jwksUrl
    ? undefined
    : createJwtAuthenticator({ ...j, allowAnonymous: config.client.allowAnonymous, anonymousPrefix: config.client.anonymousUserPrefix });
  const c = config.proxy.connect;
  if (c.url && backend) return new ConnectProxyAuthenticator({ url: c.url, headers: c.headers, cookies: c.cookies, jwtCookie: j.cookie }, backend, jwt);
  return jwt ?? new InsecureQueryAuthenticator(config.client.anonymousUserPrefix);
}

/** The one HTTP client of every backend proxy (docs/proxy.md), counting calls by `kind|outcome`. */
export function createProxyBackend(config: Config, counters: Counters): ProxyBackend {
  const p = config.proxy;
  return new ProxyBackend(
    { secret: p.secret, timeout: p.timeout, maxConcurrency: p.maxConcurrency, maxResponseSize: p.maxResponseSize },
    (kind, outcome) => inc(counters.proxyCalls, `${kind}|${outcome}`),
  );
}
