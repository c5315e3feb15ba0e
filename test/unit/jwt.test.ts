/**
 * JWT authentication: keys (HMAC with rotation, PEM public keys, JWKS on a loopback host), claims, algorithm
 * attacks, token sources, anonymous connections and subscription tokens.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { generateKeyPairSync } from 'node:crypto';
import type { AuthResult, Authenticator } from '../../src/auth/identity.js';
import { createJwtAuthenticator, type JwtAuthConfig, type JwtAuthOptions } from '../../src/auth/jwt.js';
import { extractToken, readCookie } from '../../src/auth/token.js';
import { startJwksServer, type JwksServer } from '../helpers/jwks-server.js';
import { forgeHmac, mintHmac, mintHs256, mintNone, nowSec, signingKey, type SigningKey } from '../helpers/tokens.js';

const SECRET = 'unit-test-secret-0123456789abcdef0123456789';
const OLD_SECRET = 'previous-secret-0123456789abcdef0123456789';

const BASE: JwtAuthConfig = {
  secret: '',
  previousSecret: '',
  publicKey: '',
  jwksUrl: '',
  audience: '',
  issuer: '',
  cookie: 'switchboard_token',
  clockTolerance: 5000,
  allowAnonymous: false,
  anonymousPrefix: 'anon-',
};

function make(cfg: Partial<JwtAuthConfig>, opts?: JwtAuthOptions): Authenticator {
  return createJwtAuthenticator({ ...BASE, ...cfg }, opts);
}

function request(headers: Record<string, string> = {}, query = ''): [IncomingMessage, URL] {
  return [{ headers } as unknown as IncomingMessage, new URL(`http://localhost/ws${query}`)];
}

/** Authenticates with the token as a bearer header. */
function withBearer(a: Authenticator, token: string): Promise<AuthResult> {
  return a.authenticate(...request({ authorization: `Bearer ${token}` }));
}

function assertOk(r: AuthResult): asserts r is Extract<AuthResult, { ok: true }> {
  if (!r.ok) assert.fail(`expected ok, got ${r.status} ${r.code}: ${r.message}`);
}

/** Asserts a refusal whose message matches `why` and never contains the token or its signature. */
function assertRefused(r: AuthResult, token: string, why: RegExp, code = 'unauthorized', status = 401): void {
  if (r.ok) assert.fail(`expected a refusal (${why}), got identity ${JSON.stringify(r.identity)}`);
  assert.equal(r.code, code, r.message);
  assert.equal(r.status, status);
  assert.match(r.message, why);
  assert.ok(!r.message.includes(token), 'the message echoes the token');
  const sig = token.split('.')[2];
  if (sig) assert.ok(!r.message.includes(sig), 'the message echoes the signature');
}

describe('HMAC secrets', () => {
  const a = make({ secret: SECRET, previousSecret: OLD_SECRET });

  it('accepts an HS256 token: sub becomes userId, exp becomes expiresAt (ms)', async () => {
    const exp = nowSec() + 600;
    const r = await withBearer(a, await mintHs256(SECRET, { sub: 'alice', exp }));
    assertOk(r);
    assert.deepEqual(r.identity, { userId: 'alice', expiresAt: exp * 1000 });
    assert.equal(a.insecure, false);
  });

  it('accepts HS384 and HS512', async () => {
    assertOk(await withBearer(a, await mintHmac(SECRET, 'HS384', { sub: 'bob' })));
    assertOk(await withBearer(a, await mintHmac(SECRET, 'HS512', { sub: 'bob' })));
  });

  it('accepts tokens signed with the previous secret during a rotation', async () => {
    const r = await withBearer(a, await mintHs256(OLD_SECRET, { sub: 'carol' }));
    assertOk(r);
    assert.equal(r.identity.userId, 'carol');
  });

  it('refuses a token signed with another secret: bad signature', async () => {
    const t = await mintHs256('some-other-secret-0123456789abcdef', { sub: 'mallory' });
    assertRefused(await withBearer(a, t), t, /bad signature/);
  });

  it('refuses a token whose signature was tampered with, and a token whose payload was changed', async () => {
    const t = await mintHs256(SECRET, { sub: 'alice' });
    const [h, p, s] = t.split('.') as [string, string, string];
    const flipped = `${h}.${p}.${s.slice(0, -2)}${s.endsWith('AA') ? 'BB' : 'AA'}`;
    assertRefused(await withBearer(a, flipped), flipped, /bad signature/);
    const otherPayload = Buffer.from(JSON.stringify({ sub: 'admin', exp: nowSec() + 60 })).toString('base64url');
    const swapped = `${h}.${otherPayload}.${s}`;
    assertRefused(await withBearer(a, swapped), swapped, /bad signature/);
  });

  it('refuses malformed tokens without throwing', async () => {
    for (const t of ['garbage', 'a.b', 'a.b.c', '....', '%%%.%%%.%%%', 'x'.repeat(70_000)]) {
      const r = await withBearer(a, t);
      assert.equal(r.ok, false, t.slice(0, 20));
      if (!r.ok) assert.equal(r.status, 401);
    }
  });
});

describe('time claims', () => {
  const now = Date.UTC(2030, 0, 1);
  const a = make({ secret: SECRET, clockTolerance: 5000 }, { now: () => now });
  const t0 = nowSec(now);

  it('an expired token is refused with token_expired', async () => {
    const t = await mintHs256(SECRET, { sub: 'alice', iat: t0 - 120, exp: t0 - 60 });
    assertRefused(await withBearer(a, t), t, /expired/, 'token_expired');
  });

  it('expiry within the clock tolerance is still accepted', async () => {
    assertOk(await withBearer(a, await mintHs256(SECRET, { sub: 'alice', iat: t0 - 60, exp: t0 - 3 })));
  });

  it('a token not valid yet (nbf in the future past the tolerance) is refused; within the tolerance it is accepted', async () => {
    const t = await mintHs256(SECRET, { sub: 'alice', iat: t0, nbf: t0 + 60, exp: t0 + 600 });
    assertRefused(await withBearer(a, t), t, /not valid yet/);
    assertOk(await withBearer(a, await mintHs256(SECRET, { sub: 'alice', iat: t0, nbf: t0 + 3, exp: t0 + 600 })));
  });

  it('a token issued in the future (iat) is refused', async () => {
    const t = await mintHs256(SECRET, { sub: 'alice', iat: t0 + 3600, exp: t0 + 7200 });
    assertRefused(await withBearer(a, t), t, /issued in the future/);
  });

  it('a token without exp is refused', async () => {
    const t = await mintHs256(SECRET, { sub: 'alice', exp: undefined }, { now });
    assertRefused(await withBearer(a, t), t, /no "exp" claim/);
  });

  it('exp of the wrong type is refused', async () => {
    const t = await mintHs256(SECRET, { sub: 'alice', exp: 'tomorrow' }, { now });
    assertRefused(await withBearer(a, t), t, /"exp" claim/);
  });
});

describe('audience and issuer', () => {
  const a = make({ secret: SECRET, audience: 'switchboard', issuer: 'https://auth.example.com' });
  const good = { sub: 'alice', aud: 'switchboard', iss: 'https://auth.example.com' };

  it('accepts matching aud (string or array) and iss', async () => {
    assertOk(await withBearer(a, await mintHs256(SECRET, good)));
    assertOk(await withBearer(a, await mintHs256(SECRET, { ...good, aud: ['other', 'switchboard'] })));
  });

  it('refuses a wrong audience, and a missing one', async () => {
    const t = await mintHs256(SECRET, { ...good, aud: 'another-service' });
    assertRefused(await withBearer(a, t), t, /wrong audience/);
    const t2 = await mintHs256(SECRET, { ...good, aud: undefined });
    assertRefused(await withBearer(a, t2), t2, /no "aud" claim/);
  });

  it('refuses a wrong issuer, and a missing one', async () => {
    const t = await mintHs256(SECRET, { ...good, iss: 'https://evil.example.com' });
    assertRefused(await withBearer(a, t), t, /wrong issuer/);
    const t2 = await mintHs256(SECRET, { ...good, iss: undefined });
    assertRefused(await withBearer(a, t2), t2, /no "iss" claim/);
  });

  it('without jwt.audience / jwt.issuer any aud and iss pass', async () => {
    assertOk(await withBearer(make({ secret: SECRET }), await mintHs256(SECRET, { sub: 'a', aud: 'x', iss: 'y' })));
  });
});

describe('sub, channels and info claims', () => {
  const a = make({ secret: SECRET });

  it('refuses a missing, empty, non-string, too long or control-character sub', async () => {
    const cases: [unknown, RegExp][] = [
      [undefined, /no "sub" claim/],
      ['', /non-empty string/],
      [42, /"sub" claim/],
      ['x'.repeat(129), /longer than 128/],
      ['alice\nfake log line', /control characters/],
    ];
    for (const [sub, why] of cases) {
      const t = await mintHs256(SECRET, { sub });
      assertRefused(await withBearer(a, t), t, why);
    }
    assertOk(await withBearer(a, await mintHs256(SECRET, { sub: 'x'.repeat(128) })));
  });

  it('channels: an array of valid channel names becomes identity.channels (duplicates dropped)', async () => {
    const r = await withBearer(a, await mintHs256(SECRET, { sub: 'alice', channels: ['news', 'chat:room1', 'news', 'inbox#alice'] }));
    assertOk(r);
    assert.deepEqual(r.identity.channels, ['news', 'chat:room1', 'inbox#alice']);
  });

  it('channels: not an array, a non-string, an invalid name or more than 128 are refused', async () => {
    const cases: [unknown, RegExp][] = [
      ['news', /must be an array/],
      [{ news: true }, /must be an array/],
      [['news', 7], /not a valid channel name/],
      [['news', 'bad channel'], /not a valid channel name/],
      [[''], /not a valid channel name/],
      [['x'.repeat(256)], /not a valid channel name/],
      [Array.from({ length: 129 }, (_, i) => `c${i}`), /more than 128/],
    ];
    for (const [channels, why] of cases) {
      const t = await mintHs256(SECRET, { sub: 'alice', channels });
      assertRefused(await withBearer(a, t), t, why);
    }
    assertOk(await withBearer(a, await mintHs256(SECRET, { sub: 'alice', channels: Array.from({ length: 128 }, (_, i) => `c${i}`) })));
  });

  it('info: any JSON up to 4 KB is passed through; larger is refused', async () => {
    const info = { name: 'Alice', roles: ['admin'], n: 1, nested: { ok: true } };
    const r = await withBearer(a, await mintHs256(SECRET, { sub: 'alice', info }));
    assertOk(r);
    assert.deepEqual(r.identity.info, info);
    const r2 = await withBearer(a, await mintHs256(SECRET, { sub: 'alice', info: 'just a string' }));
    assertOk(r2);
    assert.equal(r2.identity.info, 'just a string');
    const t = await mintHs256(SECRET, { sub: 'alice', info: { blob: 'x'.repeat(5000) } });
    assertRefused(await withBearer(a, t), t, /"info" claim is \d+ bytes/);
  });
});

describe('public keys (jwt.publicKey)', () => {
  let rsa: SigningKey;
  let ec: SigningKey;
  before(async () => {
    rsa = await signingKey('RS256');
    ec = await signingKey('ES256');
  });

  it('RS256 (and PS256 with the same RSA key) verify with an RSA public key', async () => {
    const a = make({ publicKey: rsa.publicPem });
    const r = await withBearer(a, await rsa.mint({ sub: 'alice' }));
    assertOk(r);
    assert.equal(r.identity.userId, 'alice');
    assertOk(await withBearer(a, await rsa.mintAs('PS256', { sub: 'alice' })));
    assertOk(await withBearer(a, await rsa.mintAs('RS512', { sub: 'alice' })));
  });

  it('ES256 verifies with a P-256 public key; other algorithms are not accepted for it', async () => {
    const a = make({ publicKey: ec.publicPem });
    assertOk(await withBearer(a, await ec.mint({ sub: 'alice' })));
    const t = await rsa.mint({ sub: 'alice' });
    assertRefused(await withBearer(a, t), t, /"RS256" are not accepted.*accepted: ES256/);
  });

  it('ES384 and Ed25519 public keys verify their own algorithm only', async () => {
    const es384 = await signingKey('ES384');
    const a = make({ publicKey: es384.publicPem });
    assertOk(await withBearer(a, await es384.mint({ sub: 'alice' })));
    const ed = await signingKey('EdDSA');
    const b = make({ publicKey: ed.publicPem });
    assertOk(await withBearer(b, await ed.mint({ sub: 'alice' })));
    const t = await es384.mint({ sub: 'alice' });
    assertRefused(await withBearer(b, t), t, /"ES384" are not accepted/);
  });

  it('a token signed by another RSA key is refused: bad signature', async () => {
    const other = await signingKey('RS256');
    const t = await other.mint({ sub: 'alice' });
    assertRefused(await withBearer(make({ publicKey: rsa.publicPem }), t), t, /bad signature/);
  });

  it('construction refuses a private key, garbage, a short RSA key and an unsupported curve, naming jwt.publicKey', () => {
    const priv = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    assert.throws(() => make({ publicKey: priv }), /jwt\.publicKey holds a private key/);
    assert.throws(() => make({ publicKey: 'not a pem' }), /jwt\.publicKey is not a PEM public key/);
    const short = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
    assert.throws(() => make({ publicKey: short }), /1024-bit RSA key/);
    const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
    assert.throws(() => make({ publicKey: k1 }), /curve secp256k1/);
  });
});

describe('algorithm attacks', () => {
  let rsa: SigningKey;
  before(async () => {
    rsa = await signingKey('RS256');
  });

  it('alg "none" is refused whatever keys are configured, in any spelling', async () => {
    for (const a of [make({ secret: SECRET }), make({ publicKey: rsa.publicPem }), make({ secret: SECRET, publicKey: rsa.publicPem })]) {
      for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
        const t = mintNone({ sub: 'admin' }, { header: { alg } });
        assertRefused(await withBearer(a, t), t, /alg "none"/);
        // Even with a signature part appended.
        const t2 = `${t}${forgeHmac(SECRET, { sub: 'admin' }).split('.')[2]}`;
        assertRefused(await withBearer(a, t2), t2, /alg "none"/);
      }
    }
  });

  it('HS256 forged with the RSA public key PEM as the HMAC secret is refused (public key only)', async () => {
    const a = make({ publicKey: rsa.publicPem });
    for (const secret of [rsa.publicPem, rsa.publicPem.trim(), Buffer.from(rsa.publicPem)]) {
      const t = forgeHmac(secret, { sub: 'admin' });
      assertRefused(await withBearer(a, t), t, /"HS256" are not accepted/);
    }
  });

  it('the same forgery is refused when an HMAC secret is configured too: the PEM is never an HMAC key', async () => {
    const a = make({ secret: SECRET, publicKey: rsa.publicPem });
    const t = forgeHmac(rsa.publicPem, { sub: 'admin' });
    assertRefused(await withBearer(a, t), t, /bad signature/);
    // Both kinds still work for their own tokens.
    assertOk(await withBearer(a, await mintHs256(SECRET, { sub: 'alice' })));
    assertOk(await withBearer(a, await rsa.mint({ sub: 'alice' })));
  });

  it('an RS256 token is refused by a server with only an HMAC secret', async () => {
    const t = await rsa.mint({ sub: 'alice' });
    assertRefused(await withBearer(make({ secret: SECRET }), t), t, /"RS256" are not accepted.*accepted: HS256, HS384, HS512/);
  });

  it('an HS256 token forged with a JWK of the JWKS as the secret is refused', async () => {
    const jwks = await startJwksServer([rsa.publicJwk]);
    try {
      const a = make({ jwksUrl: jwks.url });
      for (const secret of [JSON.stringify(rsa.publicJwk), rsa.publicJwk.n!]) {
        const t = forgeHmac(secret, { sub: 'admin' }, { header: { kid: rsa.kid } });
        assertRefused(await withBearer(a, t), t, /"HS256" are not accepted/);
      }
      assert.equal(jwks.requests, 0, 'an HS token must not even reach the JWKS');
    } finally {
      await jwks.close();
    }
  });
});

describe('JWKS (jwt.jwksUrl) on a loopback host', () => {
  let k1: SigningKey;
  let k2: SigningKey;
  let ec: SigningKey;
  let jwks: JwksServer;
  before(async () => {
    [k1, k2, ec] = await Promise.all([signingKey('RS256', 'key-1'), signingKey('RS256', 'key-2'), signingKey('ES256', 'key-ec')]);
  });
  after(() => jwks?.close());

  it('verifies tokens of every published key, fetching the JWKS once for many verifications', async () => {
    jwks = await startJwksServer([k1.publicJwk, ec.publicJwk]);
    const a = make({ jwksUrl: jwks.url });
    for (let i = 0; i < 20; i++) {
      const r = await withBearer(a, await (i % 2 ? ec : k1).mint({ sub: `user-${i}` }));
      assertOk(r);
      assert.equal(r.identity.userId, `user-${i}`);
    }
    assert.equal(jwks.requests, 1);
    // Concurrent first use shares one request too.
    const b = make({ jwksUrl: jwks.url });
    const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => k1.mint({ sub: `c-${i}` })));
    const rs = await Promise.all(tokens.map((t) => withBearer(b, t)));
    for (const r of rs) assertOk(r);
    assert.equal(jwks.requests, 2);
    await jwks.close();
  });

  it('key rotation: a token with a new kid verifies after one refetch (past the cooldown)', async () => {
    jwks = await startJwksServer([k1.publicJwk]);
    let now = Date.now();
    const a = make({ jwksUrl: jwks.url }, { now: () => now, jwksCooldownMs: 30_000 });
    assertOk(await withBearer(a, await k1.mint({ sub: 'alice' })));
    assert.equal(jwks.requests, 1);

    jwks.addKey(k2.publicJwk);
    now += 31_000;
    const r = await withBearer(a, await k2.mint({ sub: 'bob' }, { now }));
    assertOk(r);
    assert.equal(r.identity.userId, 'bob');
    assert.equal(jwks.requests, 2, 'one refetch for the unknown kid');
    // Both keys now verify from the cache.
    assertOk(await withBearer(a, await k1.mint({ sub: 'alice' }, { now })));
    assertOk(await withBearer(a, await k2.mint({ sub: 'bob' }, { now })));
    assert.equal(jwks.requests, 2);
    await jwks.close();
  });

  it('within the cooldown an unknown kid is refused without a refetch; after it, the refetch happens', async () => {
    jwks = await startJwksServer([k1.publicJwk]);
    let now = Date.now();
    const a = make({ jwksUrl: jwks.url }, { now: () => now, jwksCooldownMs: 30_000 });
    assertOk(await withBearer(a, await k1.mint({ sub: 'alice' })));
    jwks.addKey(k2.publicJwk);
    now += 10_000;
    const t = await k2.mint({ sub: 'bob' }, { now });
    assertRefused(await withBearer(a, t), t, /unknown "kid"/);
    assert.equal(jwks.requests, 1);
    now += 25_000;
    assertOk(await withBearer(a, await k2.mint({ sub: 'bob' }, { now })));
    assert.equal(jwks.requests, 2);
    await jwks.close();
  });

  it('100 tokens with random kids cause at most a couple of fetches (sequential and concurrent)', async () => {
    jwks = await startJwksServer([k1.publicJwk]);
    const a = make({ jwksUrl: jwks.url });
    const attacker = await signingKey('RS256');
    for (let i = 0; i < 100; i++) {
      const t = await attacker.mint({ sub: 'mallory' }, { header: { kid: `random-${i}-${Math.random()}` } });
      const r = await withBearer(a, t);
      assert.equal(r.ok, false);
    }
    assert.ok(jwks.requests <= 2, `sequential: ${jwks.requests} JWKS requests`);

    const b = make({ jwksUrl: jwks.url });
    const before = jwks.requests;
    const tokens = await Promise.all(Array.from({ length: 100 }, (_, i) => attacker.mint({ sub: 'mallory' }, { header: { kid: `burst-${i}` } })));
    const rs = await Promise.all(tokens.map((t) => withBearer(b, t)));
    assert.ok(rs.every((r) => !r.ok));
    assert.ok(jwks.requests - before <= 2, `concurrent: ${jwks.requests - before} JWKS requests`);
    // The real key still verifies from the cache.
    assertOk(await withBearer(b, await k1.mint({ sub: 'alice' })));
    await jwks.close();
  });

  it('an unreachable JWKS host gives 503 unavailable (a server problem), and stale keys stay in use during an outage', async () => {
    jwks = await startJwksServer([k1.publicJwk]);
    jwks.failWith = 500;
    let now = Date.now();
    const a = make({ jwksUrl: jwks.url }, { now: () => now, jwksMaxAgeMs: 60_000 });
    const t = await k1.mint({ sub: 'alice' });
    assertRefused(await withBearer(a, t), t, /could not be fetched/, 'unavailable', 503);
    // Within a second no new attempt is made.
    await withBearer(a, t);
    assert.equal(jwks.requests, 1);

    jwks.failWith = undefined;
    now += 1500;
    assertOk(await withBearer(a, await k1.mint({ sub: 'alice' }, { now })));
    assert.equal(jwks.requests, 2);

    jwks.failWith = 503;
    now += 120_000; // the cache is stale; the refetch fails; the old keys still verify
    assertOk(await withBearer(a, await k1.mint({ sub: 'alice' }, { now })));
    assert.equal(jwks.requests, 3);
    await jwks.close();
  });

  it('uses the injected fetch', async () => {
    let calls = 0;
    const body = JSON.stringify({ keys: [k1.publicJwk] });
    const a = make({ jwksUrl: 'https://auth.example.com/.well-known/jwks.json' }, {
      fetch: (async (input: string | URL | Request) => {
        calls++;
        assert.equal(String(input), 'https://auth.example.com/.well-known/jwks.json');
        return new Response(body, { status: 200, headers: { 'content-type': 'application/json' } });
      }) as typeof fetch,
    });
    assertOk(await withBearer(a, await k1.mint({ sub: 'alice' })));
    assert.equal(calls, 1);
  });

  it('construction: http only for loopback hosts, a clear error otherwise', () => {
    for (const ok of ['http://127.0.0.1:9/jwks', 'http://localhost/jwks', 'http://[::1]:8080/jwks', 'https://auth.example.com/jwks']) {
      assert.doesNotThrow(() => make({ jwksUrl: ok }), ok);
    }
    assert.throws(() => make({ jwksUrl: 'http://auth.example.com/jwks' }), /jwt\.jwksUrl uses http to auth\.example\.com.*Fix: use https/);
    assert.throws(() => make({ jwksUrl: 'http://10.0.0.5/jwks' }), /jwt\.jwksUrl uses http/);
    assert.throws(() => make({ jwksUrl: 'ftp://auth.example.com/jwks' }), /jwt\.jwksUrl has protocol ftp/);
    assert.throws(() => make({ jwksUrl: 'not a url' }), /jwt\.jwksUrl is not a URL/);
  });
});

describe('configuration errors', () => {
  it('no key at all, or previousSecret alone, is refused at construction', () => {
    assert.throws(() => make({}), /needs a key.*jwt\.secret, jwt\.publicKey or jwt\.jwksUrl/);
    assert.throws(() => make({ previousSecret: OLD_SECRET }), /jwt\.previousSecret is set without jwt\.secret/);
  });
});

describe('token sources', () => {
  const COOKIE = 'switchboard_token';
  const src = (headers: Record<string, string>, query = '') => extractToken(...request(headers, query), COOKIE);

  it('Authorization: Bearer (scheme case-insensitive, spaces tolerated)', () => {
    assert.equal(src({ authorization: 'Bearer abc.def.ghi' }), 'abc.def.ghi');
    assert.equal(src({ authorization: 'bearer   abc.def.ghi  ' }), 'abc.def.ghi');
    assert.equal(src({ authorization: 'Basic dXNlcjpwYXNz' }), undefined);
    assert.equal(src({ authorization: 'Bearer' }), undefined);
    assert.equal(src({ authorization: 'Bearer a b' }), undefined);
  });

  it('?token= query parameter', () => {
    assert.equal(src({}, '?token=abc.def.ghi&channel=x'), 'abc.def.ghi');
    assert.equal(src({}, '?token='), undefined);
  });

  it('the named cookie among other cookies, quoted or percent-encoded, robust to junk', () => {
    assert.equal(src({ cookie: 'a=1; switchboard_token=abc.def.ghi; b=2' }), 'abc.def.ghi');
    assert.equal(src({ cookie: 'switchboard_token="abc.def.ghi"' }), 'abc.def.ghi');
    assert.equal(src({ cookie: 'x_switchboard_token=nope; switchboard_token_x=nope' }), undefined);
    assert.equal(src({ cookie: ';;junk; =; switchboard_token=; switchboard_token = abc ;' }), 'abc');
    assert.equal(readCookie('t=a%2Eb', 't'), 'a.b');
    assert.equal(readCookie('t=%E0%A4%A', 't'), '%E0%A4%A');
    assert.equal(readCookie('t=a=b=c', 't'), 'a=b=c');
    assert.equal(readCookie(undefined, 't'), undefined);
    assert.equal(readCookie('t=1', ''), undefined);
    assert.equal(extractToken(...request({ cookie: 'session=1; auth=xyz' }), 'auth'), 'xyz');
  });

  it('precedence: bearer, then query, then cookie', () => {
    const all = { authorization: 'Bearer from-header', cookie: `${COOKIE}=from-cookie` };
    assert.equal(src(all, '?token=from-query'), 'from-header');
    assert.equal(src({ cookie: `${COOKIE}=from-cookie` }, '?token=from-query'), 'from-query');
    assert.equal(src({ authorization: 'Basic x', cookie: `${COOKIE}=from-cookie` }), 'from-cookie');
  });

  it('authenticate reads each source', async () => {
    const a = make({ secret: SECRET, cookie: 'sb' });
    const t = await mintHs256(SECRET, { sub: 'alice' });
    for (const [headers, query] of [[{ authorization: `Bearer ${t}` }, ''], [{}, `?token=${t}`], [{ cookie: `theme=dark; sb=${t}; x=y` }, '']] as const) {
      const r = await a.authenticate(...request(headers as Record<string, string>, query));
      assertOk(r);
      assert.equal(r.identity.userId, 'alice');
    }
    // A valid header wins over a bad query token.
    assertOk(await a.authenticate(...request({ authorization: `Bearer ${t}` }, '?token=bad')));
  });
});

describe('anonymous connections', () => {
  it('without a token: refused with 401 and a message naming the sources and the cookie', async () => {
    const r = await make({ secret: SECRET, cookie: 'my_cookie' }).authenticate(...request());
    assert.deepEqual(r, {
      ok: false,
      status: 401,
      code: 'unauthorized',
      message: 'a connection token is required (Authorization: Bearer, ?token= or the my_cookie cookie)',
    });
  });

  it('with client.allowAnonymous: an anonymous identity with the prefix and a random id', async () => {
    const a = make({ secret: SECRET, allowAnonymous: true, anonymousPrefix: 'guest-' });
    const r1 = await a.authenticate(...request());
    const r2 = await a.authenticate(...request());
    assertOk(r1);
    assertOk(r2);
    assert.match(r1.identity.userId, /^guest-[0-9a-f]{12}$/);
    assert.equal(r1.identity.anonymous, true);
    assert.notEqual(r1.identity.userId, r2.identity.userId);
  });

  it('with client.allowAnonymous a bad token is still refused (no silent downgrade)', async () => {
    const a = make({ secret: SECRET, allowAnonymous: true });
    const t = await mintHs256('wrong-secret-0123456789abcdef', { sub: 'alice' });
    assertRefused(await withBearer(a, t), t, /bad signature/);
    const valid = await withBearer(a, await mintHs256(SECRET, { sub: 'alice' }));
    assertOk(valid);
    assert.equal(valid.identity.anonymous, undefined);
  });
});

describe('refresh', () => {
  it('verifies like a connection token (no anonymous), with token_expired for an expired one', async () => {
    const a = make({ secret: SECRET, allowAnonymous: true });
    const exp = nowSec() + 900;
    const r = await a.refresh!(await mintHs256(SECRET, { sub: 'alice', exp, channels: ['news'] }));
    assertOk(r);
    assert.deepEqual(r.identity, { userId: 'alice', expiresAt: exp * 1000, channels: ['news'] });
    const old = await mintHs256(SECRET, { sub: 'alice', iat: nowSec() - 100, exp: nowSec() - 50 });
    assertRefused(await a.refresh!(old), old, /expired/, 'token_expired');
    const r2 = await a.refresh!('');
    assert.equal(r2.ok, false);
  });
});

describe('subscription tokens', () => {
  const a = make({ secret: SECRET, previousSecret: OLD_SECRET });

  it('true for a token with sub = the user and channel = the channel', async () => {
    assert.ok(await a.verifySubscription!(await mintHs256(SECRET, { sub: 'alice', channel: 'vip:lounge' }), 'alice', 'vip:lounge'));
    assert.ok(await a.verifySubscription!(await mintHs256(OLD_SECRET, { sub: 'alice', channel: 'vip:lounge' }), 'alice', 'vip:lounge'));
  });

  it('false for another user, another channel, no channel, expired, a foreign key, or garbage; never throws', async () => {
    const t = await mintHs256(SECRET, { sub: 'alice', channel: 'vip:lounge' });
    assert.equal(await a.verifySubscription!(t, 'bob', 'vip:lounge'), undefined);
    assert.equal(await a.verifySubscription!(t, 'alice', 'vip:other'), undefined);
    assert.equal(await a.verifySubscription!(await mintHs256(SECRET, { sub: 'alice' }), 'alice', 'vip:lounge'), undefined);
    assert.equal(await a.verifySubscription!(await mintHs256(SECRET, { sub: 'alice', channel: ['vip:lounge'] }), 'alice', 'vip:lounge'), undefined);
    const expired = await mintHs256(SECRET, { sub: 'alice', channel: 'vip:lounge', iat: nowSec() - 100, exp: nowSec() - 60 });
    assert.equal(await a.verifySubscription!(expired, 'alice', 'vip:lounge'), undefined);
    assert.equal(await a.verifySubscription!(await mintHs256('foreign-secret-0123456789abcdef', { sub: 'alice', channel: 'vip:lounge' }), 'alice', 'vip:lounge'), undefined);
    assert.equal(await a.verifySubscription!(mintNone({ sub: 'alice', channel: 'vip:lounge' }), 'alice', 'vip:lounge'), undefined);
    for (const junk of ['', 'x', 'a.b.c', 'x'.repeat(100_000)]) assert.equal(await a.verifySubscription!(junk, 'alice', 'vip:lounge'), undefined);
  });

  it('a subscription token cannot be used to connect', async () => {
    const t = await mintHs256(SECRET, { sub: 'alice', channel: 'vip:lounge' });
    assertRefused(await withBearer(a, t), t, /subscription token/);
  });

  it('with a JWKS: RS256 subscription tokens verify with the same keys', async () => {
    const k = await signingKey('RS256', 'sub-key');
    const jwks = await startJwksServer([k.publicJwk]);
    try {
      const b = make({ jwksUrl: jwks.url });
      assert.ok(await b.verifySubscription!(await k.mint({ sub: 'alice', channel: 'vip:1' }), 'alice', 'vip:1'));
      assert.equal(await b.verifySubscription!(forgeHmac(JSON.stringify(k.publicJwk), { sub: 'alice', channel: 'vip:1' }), 'alice', 'vip:1'), undefined);
    } finally {
      await jwks.close();
    }
  });
});
