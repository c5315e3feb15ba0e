/**
 * A JWKS host on loopback (the "remote" identity provider of the JWT tests): serves the public keys it holds at
 * `/.well-known/jwks.json`, counts requests, and can rotate keys or fail on demand.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JWK } from 'jose';

export interface JwksServer {
  /** `http://127.0.0.1:<port>/.well-known/jwks.json` */
  readonly url: string;
  /** JWKS requests served so far (any status). */
  readonly requests: number;
  /** The keys served now. */
  keys: JWK[];
  /** Adds a key (key rotation: the new key is published beside the old). */
  addKey(jwk: JWK): void;
  /** When set, every request is answered with this status and no keys (an outage). */
  failWith: number | undefined;
  close(): Promise<void>;
}

export async function startJwksServer(keys: JWK[] = []): Promise<JwksServer> {
  let requests = 0;
  const state = { keys: [...keys], failWith: undefined as number | undefined };
  const server: Server = createServer((req, res) => {
    requests++;
    if (req.url !== '/.well-known/jwks.json') {
      res.writeHead(404).end();
      return;
    }
    if (state.failWith !== undefined) {
      res.writeHead(state.failWith, { 'content-type': 'text/plain' }).end('unavailable');
      return;
    }
    const body = JSON.stringify({ keys: state.keys });
    res.writeHead(200, { 'content-type': 'application/jwk-set+json', 'content-length': Buffer.byteLength(body) }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    get requests() {
      return requests;
    },
    get keys() {
      return state.keys;
    },
    set keys(k: JWK[]) {
      state.keys = [...k];
    },
    addKey(jwk) {
      state.keys.push(jwk);
    },
    get failWith() {
      return state.failWith;
    },
    set failWith(s: number | undefined) {
      state.failWith = s;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
