import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';
import { parseDuration } from '../config/fields.js';
import type { Command } from './command.js';
import { UsageError } from './remote.js';
import { runClientCommand } from './run-client.js';

/** The server refuses shorter HMAC secrets (jwt.secret); minting with one would only make tokens it rejects. */
const MIN_SECRET_BYTES = 32;
const USAGE = '<user> [--ttl 1h] [--secret <s>] [--channels a,b] [--info <json>] [--audience <aud>] [--issuer <iss>]';

/** `switchboard token alice` (or `--user alice`): an HS256 connection token for development, printed alone on stdout. */
export const tokenCommand: Command = {
  name: 'token',
  usage: USAGE,
  summary: 'mint a development JWT (HS256) for a user, signed with the server\'s jwt.secret',
  details: () => `Options:
  <user>               the token's "sub" (required; --user <id> works too)
  --ttl <duration>     lifetime such as 30s, 15m, 1h, 7d (default 1h)
  --secret <s>         HMAC secret, at least ${MIN_SECRET_BYTES} bytes (default: env SWITCHBOARD_JWT_SECRET, the server's own)
  --channels a,b       "channels" claim: channels the token lets the user subscribe to
  --info <json>        "info" claim, shown to others in presence
  --audience <aud>     "aud" claim (when the server sets jwt.audience)
  --issuer <iss>       "iss" claim (when the server sets jwt.issuer)

Example:
  export SWITCHBOARD_JWT_SECRET=$(openssl rand -hex 32)
  switchboard token alice --ttl 15m
`,
  run: (args, env) => runClientCommand('token', () => token(args, env)),
};

async function token(args: readonly string[], env: Readonly<Record<string, string | undefined>>): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: {
      user: { type: 'string' }, ttl: { type: 'string', default: '1h' }, secret: { type: 'string' },
      channels: { type: 'string' }, info: { type: 'string' }, audience: { type: 'string' }, issuer: { type: 'string' },
    },
  });
  // The user is the one positional (`token alice`); --user is kept for scripts written against the first version.
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}". Usage: switchboard token ${USAGE}`);
  if (positionals.length === 1 && values.user !== undefined && values.user !== positionals[0]) {
    throw new UsageError(`two users given ("${positionals[0]}" and --user "${values.user}"). Usage: switchboard token ${USAGE}`);
  }
  const user = positionals[0] ?? values.user;
  if (!user) throw new UsageError(`a user is required, e.g. switchboard token alice. Usage: switchboard token ${USAGE}`);
  const secret = values.secret ?? env.SWITCHBOARD_JWT_SECRET ?? '';
  if (!secret) throw new UsageError('no secret: pass --secret or set SWITCHBOARD_JWT_SECRET (the server\'s jwt.secret)');
  if (Buffer.byteLength(secret) < MIN_SECRET_BYTES) {
    throw new UsageError(`the secret is ${Buffer.byteLength(secret)} bytes; the server needs at least ${MIN_SECRET_BYTES} (try: openssl rand -hex 32)`);
  }
  const ttlMs = parseDuration(values.ttl);
  if (ttlMs === undefined || ttlMs < 1000) throw new UsageError(`--ttl "${values.ttl}" is not a duration of at least 1s, such as 15m or 1h`);
  const claims: Record<string, unknown> = {};
  if (values.channels !== undefined) claims.channels = values.channels.split(',').map((c) => c.trim()).filter(Boolean);
  if (values.info !== undefined) {
    try {
      claims.info = JSON.parse(values.info);
    } catch {
      throw new UsageError(`--info is not valid JSON: ${values.info.slice(0, 80)}`);
    }
  }
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(user)
    .setIssuedAt().setExpirationTime(Math.floor((Date.now() + ttlMs) / 1000));
  if (values.audience) jwt.setAudience(values.audience);
  if (values.issuer) jwt.setIssuer(values.issuer);
  process.stdout.write(`${await jwt.sign(new TextEncoder().encode(secret))}\n`);
  return 0;
}
