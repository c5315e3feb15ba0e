/**
 * Where a connection token may travel, in order of precedence: `Authorization: Bearer <t>` (non-browser clients,
 * the WebSocket of Node), then the `token` query parameter (browsers' WebSocket and EventSource cannot set headers),
 * then a cookie (EventSource with credentials, same-site apps). The first source that holds a non-empty token wins;
 * the others are not looked at, so a stale cookie never overrides a fresh header.
 */
import type { IncomingHttpHeaders } from 'node:http';

const BEARER = /^Bearer[ \t]+([^ \t]+)[ \t]*$/i;

export function extractToken(req: { readonly headers: IncomingHttpHeaders }, url: URL, cookieName: string): string | undefined {
  const auth = req.headers.authorization;
  if (auth !== undefined) {
    const m = BEARER.exec(auth);
    if (m) return m[1];
  }
  const query = url.searchParams.get('token');
  if (query !== null && query !== '') return query;
  return readCookie(req.headers.cookie, cookieName);
}

/**
 * The value of one cookie from a `Cookie` header (Node joins repeated headers with `; `), or undefined. Tolerates
 * stray spaces, empty parts, parts without `=`, quoted values and undecodable percent escapes (kept as sent); the
 * first non-empty cookie of that name wins.
 */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined || name === '') return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (value.includes('%')) {
      try {
        value = decodeURIComponent(value);
      } catch {
        /* not percent-encoded after all: keep the raw value */
      }
    }
    if (value !== '') return value;
  }
  return undefined;
}
