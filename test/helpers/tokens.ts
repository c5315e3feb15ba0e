/**
 * Minting JWTs for tests. Claims are signed exactly as given (wrong types included, to test rejection), after two
 * defaults: `iat` = now and `exp` = now + 1 h, unless the claims name them; a claim set to `undefined` is left out
 * (`{ exp: undefined }` mints a token without `exp`). Times are NumericDate seconds.
 */
import { createHmac, KeyObject } from 'node:crypto';
import { CompactSign, exportJWK, exportSPKI, generateKeyPair, type CryptoKey, type JWK } from 'jose';

export type Claims = Record<string, unknown>;

export interface MintOptions {
  /** Extra or overriding protected-header fields (`kid`, `typ`, even `alg` for forgeries). */
  header?: Record<string, unknown>;
  /** "Now" in ms for the `iat`/`exp` defaults. Default: Date.now(). */
  now?: number;
  /** Lifetime in seconds for the default `exp`. Default 3600. */
  ttl?: number;
}

/** Seconds since the epoch. */
export const nowSec = (nowMs = Date.now()): number => Math.floor(nowMs / 1000);

/** The claims with `iat`/`exp` defaults and undefined values dropped. */
export function withDefaults(claims: Claims, opts: MintOptions = {}): Claims {
  const now = nowSec(opts.now);
  const out: Claims = { iat: now, exp: now + (opts.ttl ?? 3600), ...claims };
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
}

const enc = new TextEncoder();

/** Signs `claims` with any key and algorithm jose supports. */
export async function mint(key: CryptoKey | KeyObject | Uint8Array, alg: string, claims: Claims, opts: MintOptions = {}): Promise<string> {
  const payload = enc.encode(JSON.stringify(withDefaults(claims, opts)));
  return new CompactSign(payload).setProtectedHeader({ alg, typ: 'JWT', ...opts.header } as { alg: string }).sign(key);
}

export function mintHs256(secret: string, claims: Claims, opts: MintOptions = {}): Promise<string> {
  return mint(enc.encode(secret), 'HS256', claims, opts);
}

export function mintHmac(secret: string, alg: 'HS256' | 'HS384' | 'HS512', claims: Claims, opts: MintOptions = {}): Promise<string> {
  return mint(enc.encode(secret), alg, claims, opts);
}

const b64url = (v: string | Buffer): string => Buffer.from(v).toString('base64url');

/**
 * An HMAC token built by hand, with any bytes as the secret and any header: the algorithm-confusion forgery
 * (`forgeHmac(rsaPublicPem, claims)` signs HS256 with the public key text as the secret).
 */
export function forgeHmac(secret: string | Uint8Array, claims: Claims, opts: MintOptions & { alg?: 'HS256' | 'HS384' | 'HS512' } = {}): string {
  const alg = opts.alg ?? 'HS256';
  const head = b64url(JSON.stringify({ alg, typ: 'JWT', ...opts.header }));
  const body = b64url(JSON.stringify(withDefaults(claims, opts)));
  const sig = createHmac(`sha${alg.slice(2)}`, secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

/** An unsigned token (`alg: none`, empty signature), or with another spelling of none via `opts.header.alg`. */
export function mintNone(claims: Claims, opts: MintOptions = {}): string {
  const head = b64url(JSON.stringify({ alg: 'none', typ: 'JWT', ...opts.header }));
  return `${head}.${b64url(JSON.stringify(withDefaults(claims, opts)))}.`;
}

export interface SigningKey {
  readonly alg: string;
  readonly kid: string;
  readonly privateKey: CryptoKey;
  /** SPKI PEM, for `jwt.publicKey`. */
  readonly publicPem: string;
  /** Public JWK with `kid`, `alg` and `use: "sig"`, for a JWKS. */
  readonly publicJwk: JWK;
  /** Signs with this key, its `kid` in the header. */
  mint(claims: Claims, opts?: MintOptions): Promise<string>;
  /** Signs with this key under another algorithm of its family (an RSA key as PS256), its `kid` in the header. */
  mintAs(alg: string, claims: Claims, opts?: MintOptions): Promise<string>;
}

/** A fresh asymmetric key pair (`RS256`, `PS256`, `ES256`, `ES384`, `EdDSA`, ...). */
export async function signingKey(alg: string, kid = `${alg.toLowerCase()}-${Math.random().toString(36).slice(2, 10)}`): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicPem = await exportSPKI(publicKey);
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return {
    alg,
    kid,
    privateKey,
    publicPem,
    publicJwk,
    mint: (claims, opts = {}) => mint(privateKey, alg, claims, { ...opts, header: { kid, ...opts.header } }),
    // A CryptoKey is bound to one algorithm; a KeyObject of the same key is not.
    mintAs: (other, claims, opts = {}) => mint(KeyObject.from(privateKey), other, claims, { ...opts, header: { kid, ...opts.header } }),
  };
}
