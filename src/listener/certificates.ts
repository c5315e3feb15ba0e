import { readFileSync, statSync } from 'node:fs';
import { stat, readFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import type { Logger } from '../observability/logger.js';

/** A certificate and its key, as PEM, checked to belong together. */
export interface KeyPair {
  cert: Buffer;
  key: Buffer;
  /** The leaf certificate's subject, fingerprint and expiry, for logs. */
  info: { subject: string; fingerprint256: string; validTo: string };
}

/**
 * Reads and checks a PEM certificate and key: both parse and the key is the certificate's (OpenSSL refuses a
 * mismatched pair in createSecureContext). Throws an Error naming the problem.
 */
export function loadKeyPair(cert: Buffer, key: Buffer): KeyPair {
  createSecureContext({ cert, key });
  const leaf = new X509Certificate(cert);
  return { cert, key, info: { subject: leaf.subject.replace(/\n/g, ', '), fingerprint256: leaf.fingerprint256, validTo: leaf.validTo } };
}

/** At start-up: both files read and checked, or an Error saying which file and why. */
export function readKeyPairSync(certPath: string, keyPath: string): KeyPair {
  const cert = readPem(certPath, 'tls.cert');
  const key = readPem(keyPath, 'tls.key');
  try {
    return loadKeyPair(cert, key);
  } catch (err) {
    throw new Error(`tls.cert "${certPath}" and tls.key "${keyPath}" do not load as a certificate and its key (${err instanceof Error ? err.message : String(err)})`);
  }
}

function readPem(path: string, option: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`${option} "${path}" cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

/** What identifies a file's content without reading it: stat follows symlinks, so a swapped link counts. */
async function signature(path: string): Promise<string> {
  try {
    const s = await stat(path);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch (err) {
    return `missing:${(err as NodeJS.ErrnoException).code ?? ''}`;
  }
}

function signatureSync(path: string): string {
  const s = statSync(path);
  return `${s.ino}:${s.size}:${s.mtimeMs}`;
}

/**
 * Polls the certificate and key files every `intervalMs` and hands a changed, valid pair to `apply` (which calls
 * `server.setSecureContext`: new TLS connections get it, open ones keep theirs). Polling rather than fs.watch:
 * watchers miss atomic renames and symlink swaps (Kubernetes secret volumes) and differ between platforms; a stat
 * of two files every few seconds costs nothing. A pair that fails to load (half-written, or a key that does not
 * match yet) is logged once per change of the files, and the previous pair stays in use.
 */
export class CertificateReloader {
  private timer: NodeJS.Timeout | undefined;
  private seen: string;
  private checking = false;

  constructor(
    private readonly certPath: string,
    private readonly keyPath: string,
    private readonly apply: (pair: KeyPair) => void,
    private readonly logger: Logger,
  ) {
    this.seen = `${signatureSync(certPath)}|${signatureSync(keyPath)}`;
  }

  start(intervalMs: number): void {
    if (intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => void this.check(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One poll: reloads when either file changed since the last look. Resolves true when a new pair was applied. */
  async check(): Promise<boolean> {
    if (this.checking) return false;
    this.checking = true;
    try {
      const now = `${await signature(this.certPath)}|${await signature(this.keyPath)}`;
      if (now === this.seen) return false;
      this.seen = now;
      let pair: KeyPair;
      try {
        pair = loadKeyPair(await readFile(this.certPath), await readFile(this.keyPath));
      } catch (err) {
        this.logger.error(
          { event: 'tls_reload_failed', cert: this.certPath, key: this.keyPath, reason: err instanceof Error ? err.message : String(err) },
          'TLS certificate not reloaded: the files do not load as a matching pair; the previous certificate stays in use',
        );
        return false;
      }
      this.apply(pair);
      this.logger.info({ event: 'tls_reloaded', ...pair.info }, 'TLS certificate reloaded');
      return true;
    } finally {
      this.checking = false;
    }
  }
}
