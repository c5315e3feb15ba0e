import type { Authenticator } from '../auth/identity.js';
import { isLoopbackHost } from '../core/loopback.js';
import { ConfigError, configSource, type Config } from '../config/index.js';
import { optionProblem } from '../config/errors.js';

/**
 * Safe defaults: a server reachable from other machines must authenticate its clients and protect its API.
 * Beyond loopback it refuses to start without JWT auth and an API key, unless `insecure` says otherwise.
 */
export function assertSafeBinding(config: Config, authenticator: Authenticator): void {
  if (isLoopbackHost(config.host) || config.insecure) return;
  const missing = [authenticator.insecure ? 'JWT authentication (jwt.secret, jwt.publicKey or jwt.jwksUrl)' : '', config.apiKey ? '' : 'an API key (apiKey)'].filter(Boolean);
  if (missing.length === 0) return;
  throw new ConfigError([
    optionProblem(
      'host',
      configSource(config, 'host'), // "flag --host", "env SWITCHBOARD_HOST", "file …": where the operator set it
      `listening on ${config.host} (beyond loopback) needs ${missing.join(' and ')}`,
      'set SWITCHBOARD_JWT_SECRET and SWITCHBOARD_API_KEY, or pass --insecure for a development server on a trusted network',
    ),
  ]);
}
