/**
 * Static files from a build directory (the demo page in dist/web), read into memory once at start-up. A request can
 * only name a file that was listed then: the lookup is a Map of exact names, so `..`, encoded slashes, symlinks added
 * later or absolute paths never reach the file system. Files are small (the whole demo is ~40 KB), so gzip is
 * computed once too.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { embeddedFiles } from './embedded.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

/** Larger files are not served (a build directory holds nothing that big); bounds the memory this takes. */
const MAX_FILE_BYTES = 2 * 1024 * 1024;
/** Files below this are sent as they are: gzip would save too little to pay for the header. */
const GZIP_MIN_BYTES = 512;
/** esbuild's `[name]-[hash]` names: content-addressed, so cacheable forever. */
const HASHED = /-[A-Z0-9]{8}\.[a-z0-9]+$/;

/**
 * Sent with every static response. The CSP allows scripts, styles, images and connections from this origin only (no
 * inline code, no CDN); `connect-src 'self'` covers same-origin `ws:`/`wss:` in CSP Level 3 browsers (the demo's
 * browser test checks that Chromium opens the WebSocket under it and reports no violation).
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
});

export interface StaticFile {
  readonly name: string;
  readonly body: Buffer;
  readonly gzip?: Buffer;
  readonly type: string;
  readonly etag: string;
  readonly cacheControl: string;
}

export class StaticFiles {
  private constructor(private readonly files: ReadonlyMap<string, StaticFile>) {}

  /** Reads every file under `dir` (names relative to it, `/`-separated); undefined when `dir` does not exist. */
  static load(dir: string): StaticFiles | undefined {
    if (!existsSync(dir)) return undefined;
    const files = new Map<string, StaticFile>();
    const walk = (sub: string) => {
      for (const entry of readdirSync(join(dir, sub), { withFileTypes: true })) {
        const rel = sub ? `${sub}/${entry.name}` : entry.name;
        if (entry.isDirectory()) walk(rel);
        else if (entry.isFile() && statSync(join(dir, rel)).size <= MAX_FILE_BYTES) files.set(rel, fileOf(rel, readFileSync(join(dir, rel))));
      }
    };
    walk('');
    return new StaticFiles(files);
  }

  /** The single executable's embedded files under `prefix` (names relative to it); undefined when there are none. */
  static embedded(prefix: string): StaticFiles | undefined {
    const e = embeddedFiles();
    if (!e) return undefined;
    const files = new Map<string, StaticFile>();
    for (const name of e.names) {
      const body = name.startsWith(prefix) ? e.read(name) : undefined;
      if (body) files.set(name.slice(prefix.length), fileOf(name.slice(prefix.length), body));
    }
    return files.size > 0 ? new StaticFiles(files) : undefined;
  }

  get(name: string): StaticFile | undefined {
    return this.files.get(name);
  }

  names(): string[] {
    return [...this.files.keys()];
  }

  /** Answers GET/HEAD with the file (gzip when accepted, 304 on a matching `If-None-Match`). */
  send(req: IncomingMessage, res: ServerResponse, file: StaticFile, extra: Readonly<Record<string, string>> = {}): void {
    sendStatic(req, res, file, extra);
  }
}

/** One file, read now; undefined when it does not exist or is too large. */
export function loadStaticFile(path: string, name: string): StaticFile | undefined {
  if (!existsSync(path) || statSync(path).size > MAX_FILE_BYTES) return undefined;
  return fileOf(name, readFileSync(path));
}

/** One of the single executable's embedded files, served as `name`; undefined when not running as one. */
export function embeddedStaticFile(embeddedName: string, name: string): StaticFile | undefined {
  const body = embeddedFiles()?.read(embeddedName);
  return body ? fileOf(name, body) : undefined;
}

export function sendStatic(req: IncomingMessage, res: ServerResponse, file: StaticFile, extra: Readonly<Record<string, string>> = {}): void {
  const headers: Record<string, string | number> = {
    ...SECURITY_HEADERS,
    ...extra,
    'content-type': file.type,
    'cache-control': file.cacheControl,
    etag: file.etag,
    vary: 'Accept-Encoding',
  };
  if (req.headers['if-none-match'] === file.etag) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  const gz = file.gzip !== undefined && /\bgzip\b/.test(req.headers['accept-encoding'] ?? '');
  const body = gz ? file.gzip! : file.body;
  if (gz) headers['content-encoding'] = 'gzip';
  headers['content-length'] = body.length;
  res.writeHead(200, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
}

function fileOf(name: string, body: Buffer): StaticFile {
  const type = TYPES[extname(name).toLowerCase()] ?? 'application/octet-stream';
  const compressible = /^(text\/|application\/json|image\/svg)/.test(type) && body.length >= GZIP_MIN_BYTES;
  return {
  name,
  body,
  gzip: compressible ? gzipSync(body, { level: 9 }) : undefined,
  type,
  etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
  // index.html names the hashed assets of the current build: revalidate it every time (cheap: a 304).
  cacheControl: HASHED.test(name) ? 'public, max-age=31536000, immutable' : 'no-cache',
  };
}
