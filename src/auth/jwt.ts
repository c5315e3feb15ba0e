/**
 * JWT authentication: connection tokens (`sub` becomes the user), refresh tokens and subscription tokens, verified
 * with an HMAC secret (plus the previous one during a rotation), a PEM public key, a JWKS URL, or several at once.
 *
 * Algorithm confusion is closed by construction: every key kind carries its own allow-list of algorithms, and a token
 * goes only to the keys whose list holds its header's `alg`. An HMAC secret never sees an RS256 token, a public key
 * is never handed to HMAC, and `alg: none` reaches no key at all.
 */
import type { IncomingMessage } from 'node:http';
import { createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { createLocalJWKSet, decodeProtectedHeader, errors, jwtVerify, type JSONWebKeySet, type JWK, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose';
import type { Config } from '../config/index.js';
import { isLoopbackHost } from '../core/loopback.js';
import type { ErrorCode } from '../protocol/errors.js';
import { isValidChannel } from '../protocol/names.js';
import type { AuthResult, Authenticator, Identity, SubscriptionGrant } from './identity.js';
import { extractToken } from './token.js';

export type JwtAuthConfig = Config['jwt'] & { allowAnonymous: boolean; anonymousPrefix: string };

export interface JwtAuthOptions {
  /** Fetch used for the JWKS (tests, proxies). Default: global fetch. */
  fetch?: typeof fetch;
  /** Clock in ms since the epoch, for `exp`/`nbf`/`iat` and the JWKS cache. Default: Date.now. */
  now?: () => number;
  /** Least time between two JWKS fetches triggered by unknown `kid`s, in ms. Default 30 s. */
  jwksCooldownMs?: number;
  /** Age after which the cached JWKS is refetched before use, in ms. Default 10 min. */
  jwksMaxAgeMs?: number;
  /** Timeout of one JWKS request, in ms. Default 5 s. */
  jwksTimeoutMs?: number;
}

const HMAC_ALGS = ['HS256', 'HS384', 'HS512'] as const;
const RSA_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] as const;
const PSS_ALGS = ['PS256', 'PS384', 'PS512'] as const;
const EC_ALG_BY_CURVE: Readonly<Record<string, string>> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' };
const ED_ALGS = ['EdDSA', 'Ed25519'] as const;
const JWKS_ALGS = [...RSA_ALGS, 'ES256', 'ES384', 'ES512', ...ED_ALGS] as const;

/** Longest token looked at, in characters (64 KiB): far above any real token, and bounds the work per attempt. */
const MAX_TOKEN_LENGTH = 65536;
const MAX_SUB_LENGTH = 128;
const MAX_CHANNELS = 128;
/** Largest `info` claim, serialized, in bytes (4 KiB): it travels in every presence reply. */
const MAX_INFO_BYTES = 4096;
/** Largest JWKS document read, in bytes. */
const MAX_JWKS_BYTES = 1 << 20;
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/** One kind of key: what it verifies with and which `alg` values it may ever see. */
interface Verifier {
  readonly kind: string;
  readonly algorithms: readonly string[];
  readonly key: Uint8Array | KeyObject | JWTVerifyGetKey;
}

/** A token that is not acceptable: the HTTP status, stable code and a message that never quotes the token. */
class TokenRejected extends Error {
  override readonly name = 'TokenRejected';
  constructor(
    message: string,
    readonly code: Extract<ErrorCode, 'unauthorized' | 'token_expired' | 'unavailable'> = 'unauthorized',
    readonly status = 401,
  ) {
    super(message);
  }
}

/** The JWKS could not be fetched: a server-side problem, not the client's. */
class JwksUnavailable extends Error {
  override readonly name = 'JwksUnavailable';
}

export function createJwtAuthenticator(cfg: JwtAuthConfig, opts: JwtAuthOptions = {}): Authenticator {
  return new JwtAuthenticator(cfg, opts);
}

class JwtAuthenticator implements Authenticator {
  readonly insecure = false;
  private readonly verifiers: readonly Verifier[];
  private readonly now: () => number;
  /** `clockTolerance` in seconds, as jose and the NumericDate claims count. */
  private readonly toleranceSec: number;
  private readonly accepted: string;

  constructor(
    private readonly cfg: JwtAuthConfig,
    opts: JwtAuthOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.toleranceSec = Math.max(0, cfg.clockTolerance) / 1000;
    const verifiers: Verifier[] = [];
    if (cfg.previousSecret !== '' && cfg.secret === '') {
      throw new Error('jwt.previousSecret is set without jwt.secret. Fix: set jwt.secret to the new secret (previousSecret is only accepted beside it).');
    }
    const enc = new TextEncoder();
    // The current secret first: during a rotation most tokens are already signed with it.
    if (cfg.secret !== '') verifiers.push({ kind: 'secret', algorithms: HMAC_ALGS, key: enc.encode(cfg.secret) });
    if (cfg.previousSecret !== '') verifiers.push({ kind: 'previousSecret', algorithms: HMAC_ALGS, key: enc.encode(cfg.previousSecret) });
    if (cfg.publicKey !== '') verifiers.push(publicKeyVerifier(cfg.publicKey));
    if (cfg.jwksUrl !== '') {
      const jwks = new JwksCache(parseJwksUrl(cfg.jwksUrl), opts.fetch ?? fetch, this.now, {
        cooldownMs: opts.jwksCooldownMs ?? 30_000,
        maxAgeMs: opts.jwksMaxAgeMs ?? 600_000,
        timeoutMs: opts.jwksTimeoutMs ?? 5000,
      });
      verifiers.push({ kind: 'jwksUrl', algorithms: JWKS_ALGS, key: (header, token) => jwks.getKey(header, token) });
    }
    if (verifiers.length === 0) {
      throw new Error('JWT authentication needs a key. Fix: set jwt.secret, jwt.publicKey or jwt.jwksUrl.');
    }
    this.verifiers = verifiers;
    this.accepted = [...new Set(verifiers.flatMap((v) => v.algorithms))].join(', ');
  }

  async authenticate(req: IncomingMessage, url: URL): Promise<AuthResult> {
    const token = extractToken(req, url, this.cfg.cookie);
    if (token === undefined) {
      if (this.cfg.allowAnonymous) {
        return { ok: true, identity: { userId: this.cfg.anonymousPrefix + randomBytes(6).toString('hex'), anonymous: true } };
      }
      return {
        ok: false,
        status: 401,
        code: 'unauthorized',
        message: `a connection token is required (Authorization: Bearer, ?token= or the ${this.cfg.cookie} cookie)`,
      };
    }
    // A token that fails is refused even when anonymous connections are allowed: silently downgrading a user whose
    // token expired to an anonymous one would hide the problem from them.
    return this.refresh(token);
  }

  async refresh(token: string): Promise<AuthResult> {
    try {
      const payload = await this.verify(token);
      if (payload.channel !== undefined) {
        throw new TokenRejected('this is a subscription token (it has a "channel" claim); connect with a connection token');
      }
      return { ok: true, identity: this.identity(payload) };
    } catch (err) {
      const r = rejection(err);
      return { ok: false, status: r.status, code: r.code, message: r.message };
    }
  }

  async verifySubscription(token: string, userId: string, channel: string): Promise<SubscriptionGrant | undefined> {
    try {
      const payload = await this.verify(token);
      if (payload.sub !== userId || typeof payload.channel !== 'string' || payload.channel !== channel) return undefined;
      return { expiresAt: payload.exp! * 1000 };
    } catch {
      return undefined;
    }
  }

  /** Signature, algorithm, registered claims and `sub`; throws TokenRejected (or a jose error mapped by `rejection`). */
  private async verify(token: string): Promise<JWTPayload> {
    if (token.length > MAX_TOKEN_LENGTH) throw new TokenRejected(`the token is longer than ${MAX_TOKEN_LENGTH} characters`);
    if (token.split('.').length !== 3) throw new TokenRejected('malformed token: not a signed JWT (three base64url parts separated by dots)');
    let alg: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new TokenRejected('malformed token: its header is not base64url-encoded JSON');
    }
    if (typeof alg !== 'string') throw new TokenRejected('malformed token: its header has no "alg"');
    if (alg.toLowerCase() === 'none') throw new TokenRejected('unsigned tokens (alg "none") are not accepted');
    const candidates = this.verifiers.filter((v) => v.algorithms.includes(alg));
    if (candidates.length === 0) {
      const shown = /^[A-Za-z0-9]{1,16}$/.test(alg) ? `"${alg}"` : 'this algorithm';
      throw new TokenRejected(`tokens signed with ${shown} are not accepted by this server (accepted: ${this.accepted})`);
    }
    let lastErr: unknown;
    for (const v of candidates) {
      try {
        const options: JWTVerifyOptions = {
          algorithms: [...v.algorithms],
          audience: this.cfg.audience || undefined,
          issuer: this.cfg.issuer || undefined,
          clockTolerance: this.toleranceSec,
          currentDate: new Date(this.now()),
          requiredClaims: ['sub', 'exp'],
        };
        const { payload } = typeof v.key === 'function' ? await jwtVerify(token, v.key, options) : await jwtVerify(token, v.key, options);
        this.checkClaims(payload);
        return payload;
      } catch (err) {
        lastErr = err;
        // Only a signature that does not match this key may be another key's: any other failure (expired, wrong
        // audience, ...) is about the token itself and would fail with every key.
        if (!(err instanceof errors.JWSSignatureVerificationFailed)) break;
      }
    }
    throw lastErr;
  }

  private checkClaims(p: JWTPayload): void {
    const sub = p.sub;
    if (typeof sub !== 'string' || sub === '') throw new TokenRejected('the "sub" claim must be a non-empty string (the user id)');
    if (sub.length > MAX_SUB_LENGTH) throw new TokenRejected(`the "sub" claim is longer than ${MAX_SUB_LENGTH} characters`);
    if (CONTROL_CHARS.test(sub)) throw new TokenRejected('the "sub" claim contains control characters');
    // jose checks `iat` only together with a maximum token age; a token from the future means a broken issuer clock.
    if (typeof p.iat === 'number' && p.iat > this.now() / 1000 + this.toleranceSec) {
      throw new TokenRejected('the token was issued in the future ("iat"); check the clock of the token issuer');
    }
    if (p.channels !== undefined) {
      const ch = p.channels;
      if (!Array.isArray(ch)) throw new TokenRejected('the "channels" claim must be an array of channel names');
      if (ch.length > MAX_CHANNELS) throw new TokenRejected(`the "channels" claim lists more than ${MAX_CHANNELS} channels`);
      for (const c of ch) {
        if (!isValidChannel(c)) throw new TokenRejected('the "channels" claim holds something that is not a valid channel name');
      }
    }
    if (p.info !== undefined) {
      const bytes = Buffer.byteLength(JSON.stringify(p.info));
      if (bytes > MAX_INFO_BYTES) throw new TokenRejected(`the "info" claim is ${bytes} bytes serialized; at most ${MAX_INFO_BYTES}`);
    }
  }

  private identity(p: JWTPayload): Identity {
    const identity: { -readonly [K in keyof Identity]: Identity[K] } = { userId: p.sub!, expiresAt: p.exp! * 1000 };
    if (p.info !== undefined) identity.info = p.info;
    if (p.channels !== undefined) identity.channels = Object.freeze([...new Set(p.channels as string[])]);
    return Object.freeze(identity);
  }
}

/** Maps any verification failure to what the client is told. jose's own messages are not passed on. */
function rejection(err: unknown): TokenRejected {
  if (err instanceof TokenRejected) return err;
  if (err instanceof JwksUnavailable) return new TokenRejected(err.message, 'unavailable', 503);
  if (err instanceof errors.JWTExpired) {
    const exp = err.payload.exp;
    return new TokenRejected(typeof exp === 'number' ? `the token expired at ${new Date(exp * 1000).toISOString()}` : 'the token has expired', 'token_expired');
  }
  if (err instanceof errors.JWTClaimValidationFailed) {
    const { claim, reason } = err;
    if (reason === 'missing') return new TokenRejected(`the token has no "${claim}" claim`);
    if (reason === 'invalid') return new TokenRejected(`the "${claim}" claim has the wrong type`);
    if (claim === 'nbf') return new TokenRejected('the token is not valid yet ("nbf" is in the future)');
    if (claim === 'aud') return new TokenRejected('wrong audience: the token\'s "aud" does not name this server (jwt.audience)');
    if (claim === 'iss') return new TokenRejected('wrong issuer: the token\'s "iss" is not jwt.issuer');
    return new TokenRejected(`the "${claim}" claim is not acceptable`);
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return new TokenRejected('bad signature: the token is not signed with a key this server accepts');
  if (err instanceof errors.JOSEAlgNotAllowed) return new TokenRejected('the token\'s algorithm is not accepted for this key');
  if (err instanceof errors.JWKSNoMatchingKey) return new TokenRejected('no key of jwt.jwksUrl matches the token (unknown "kid")');
  if (err instanceof errors.JWKSMultipleMatchingKeys) return new TokenRejected('several keys of jwt.jwksUrl match the token; it needs a "kid"');
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return new TokenRejected('malformed token');
  return new TokenRejected('the token could not be verified');
}

/** A verifier for a PEM public key (SPKI, PKCS#1 or an X.509 certificate), allowing only its own algorithms. */
function publicKeyVerifier(pem: string): Verifier {
  if (pem.includes('PRIVATE KEY')) {
    throw new Error('jwt.publicKey holds a private key. Fix: give the public key ("-----BEGIN PUBLIC KEY-----"); the private key stays with the token issuer.');
  }
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (err) {
    throw new Error(`jwt.publicKey is not a PEM public key (${(err as Error).message}). Fix: paste the whole "-----BEGIN PUBLIC KEY-----" block, newlines included.`);
  }
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'rsa':
    case 'rsa-pss':
      if ((details.modulusLength ?? 0) < 2048) throw new Error(`jwt.publicKey is a ${details.modulusLength}-bit RSA key. Fix: use 2048 bits or more.`);
      return { kind: 'publicKey', algorithms: key.asymmetricKeyType === 'rsa' ? RSA_ALGS : PSS_ALGS, key };
    case 'ec': {
      const alg = EC_ALG_BY_CURVE[details.namedCurve ?? ''];
      if (alg === undefined) throw new Error(`jwt.publicKey is an EC key on curve ${details.namedCurve}. Fix: use P-256, P-384 or P-521 (ES256, ES384, ES512).`);
      return { kind: 'publicKey', algorithms: [alg], key };
    }
    case 'ed25519':
      return { kind: 'publicKey', algorithms: ED_ALGS, key };
    default:
      throw new Error(`jwt.publicKey is a ${key.asymmetricKeyType} key. Fix: use an RSA, EC (P-256/384/521) or Ed25519 public key.`);
  }
}

function parseJwksUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error('jwt.jwksUrl is not a URL. Fix: give an absolute https URL such as https://auth.example.com/.well-known/jwks.json.');
  }
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return url;
  if (url.protocol === 'http:') {
    throw new Error(`jwt.jwksUrl uses http to ${url.hostname}: the signing keys could be swapped on the way. Fix: use https (http is allowed only for loopback hosts).`);
  }
  throw new Error(`jwt.jwksUrl has protocol ${url.protocol}. Fix: use https.`);
}

/**
 * The JWKS, cached. Fetched on first use and again once older than `maxAgeMs` (the old keys stay in use while the
 * host is unreachable). A token with an unknown `kid` triggers a refetch (key rotation) at most once per
 * `cooldownMs`, so random `kid`s cannot make us hammer the host; concurrent refetches share one request.
 */
class JwksCache {
  private keys: ReturnType<typeof createLocalJWKSet> | undefined;
  private fetchedAt = -Infinity;
  private attemptedAt = -Infinity;
  private inflight: Promise<void> | undefined;

  constructor(
    private readonly url: URL,
    private readonly fetchImpl: typeof fetch,
    private readonly now: () => number,
    private readonly o: { cooldownMs: number; maxAgeMs: number; timeoutMs: number },
  ) {}

  async getKey(...args: Parameters<JWTVerifyGetKey>): Promise<Awaited<ReturnType<JWTVerifyGetKey>>> {
    if (this.keys === undefined || this.now() - this.fetchedAt > this.o.maxAgeMs) {
      // Without any keys, retry a failed fetch after at most a second; with (stale) keys, keep using them.
      const wait = this.keys === undefined ? Math.min(this.o.cooldownMs, 1000) : this.o.cooldownMs;
      if (this.inflight !== undefined || this.now() - this.attemptedAt >= wait) {
        await this.reload().catch((err: unknown) => {
          if (this.keys === undefined) throw err;
        });
      }
      if (this.keys === undefined) throw new JwksUnavailable('the signing keys (jwt.jwksUrl) could not be fetched; try again later');
    }
    try {
      return await this.keys(...args);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey)) throw err;
      if (this.inflight === undefined && this.now() - this.attemptedAt < this.o.cooldownMs) throw err;
      await this.reload().catch(() => {
        throw err;
      });
      return this.keys(...args);
    }
  }

  private reload(): Promise<void> {
    return (this.inflight ??= this.fetchKeys().finally(() => (this.inflight = undefined)));
  }

  private async fetchKeys(): Promise<void> {
    this.attemptedAt = this.now();
    let jwks: JSONWebKeySet;
    try {
      const res = await this.fetchImpl(this.url, {
        headers: { accept: 'application/jwk-set+json, application/json' },
        redirect: 'manual',
        signal: AbortSignal.timeout(this.o.timeoutMs),
      });
      if (res.status !== 200) {
        await res.body?.cancel();
        throw new Error(`HTTP ${res.status}`);
      }
      const text = await res.text();
      if (text.length > MAX_JWKS_BYTES) throw new Error(`larger than ${MAX_JWKS_BYTES} bytes`);
      const doc = JSON.parse(text) as { keys?: unknown };
      if (typeof doc !== 'object' || doc === null || !Array.isArray(doc.keys)) throw new Error('no "keys" array');
      // Only public asymmetric keys: a symmetric or private key published in a JWKS is a mistake we do not use.
      const keys = (doc.keys as JWK[]).filter((k) => typeof k === 'object' && k !== null && k.kty !== 'oct' && k.d === undefined);
      jwks = { keys };
      this.keys = createLocalJWKSet(jwks);
    } catch (err) {
      throw new JwksUnavailable(`the signing keys (jwt.jwksUrl) could not be fetched (${(err as Error).message}); try again later`, { cause: err });
    }
    this.fetchedAt = this.now();
  }
}
