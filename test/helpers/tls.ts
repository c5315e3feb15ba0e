/**
 * TLS for tests: self-signed certificates made with the openssl CLI (EC P-256, for `localhost` and 127.0.0.1,
 * valid one day), and a Switchboard on HTTPS built from CLI-style flags.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type PeerCertificate } from 'node:tls';
import { loadConfig } from '../../src/config/index.js';
import { createSwitchboard, type Switchboard, type SwitchboardOptions } from '../../src/server.js';
import { withTimeout } from './wait.js';

export interface CertFiles {
  cert: string;
  key: string;
  /** The certificate's PEM text, to trust it in a client (`ca`). */
  pem: string;
}

/** A fresh self-signed certificate and key (CN=`cn`) written as `<name>.crt` / `<name>.key` in `dir`. */
export function makeCertificate(dir: string, name: string, cn = name): CertFiles {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', `/CN=${cn}`, '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', key, '-out', cert,
  ], { stdio: 'ignore' });
  return { cert, key, pem: readFileSync(cert, 'utf8') };
}

export function tempDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'sb-tls-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface TlsServer {
  sb: Switchboard;
  port: number;
  /** `https://localhost:<port>` */
  url: string;
}

/** A Switchboard on HTTPS (127.0.0.1, a free port) with the given certificate files and extra flags. */
export async function startTlsServer(files: { cert: string; key: string }, flags: string[] = [], options: Omit<SwitchboardOptions, 'config'> = {}): Promise<TlsServer> {
  const config = loadConfig({
    argv: ['--port', '0', '--host', '127.0.0.1', '--log-level', 'silent', '--shutdown.timeout', '1s', '--limits.connectRate', '0', '--demo.enabled', 'false',
      '--tls.cert', files.cert, '--tls.key', files.key, ...flags],
  });
  const sb = createSwitchboard({ config, ...options });
  const { port } = await sb.listen();
  return { sb, port, url: `https://localhost:${port}` };
}

/** The certificate a new TLS connection to `port` is shown (its CN), and the ALPN protocol chosen for `alpn`. */
export function peerCertificate(port: number, ca: string[], alpn = ['http/1.1']): Promise<{ cn: string; protocol: string | false | null }> {
  return withTimeout(new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ca, ALPNProtocols: alpn }, () => {
      const cert: PeerCertificate = socket.getPeerCertificate();
      resolve({ cn: String(cert.subject.CN), protocol: socket.alpnProtocol });
      socket.end();
    });
    socket.once('error', reject);
  }), 3000, 'TLS handshake');
}
