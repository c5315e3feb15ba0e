/** CORS for our HTTP endpoints: which origin to echo (`cors.origins`), and the answer to a preflight. */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Origin check for CORS: the allowed origin to echo, or undefined. */
export function allowedOrigin(req: IncomingMessage, origins: readonly string[]): string | undefined {
  const origin = req.headers.origin;
  if (!origin || origins.length === 0) return undefined;
  if (origins.includes('*')) return origin;
  return origins.includes(origin) ? origin : undefined;
}

export function corsHeaders(req: IncomingMessage, origins: readonly string[]): Record<string, string> {
  const origin = allowedOrigin(req, origins);
  if (!origin) return {};
  // `*` lets any site read responses, but never with credentials: a cookie-borne token must not open a user's
  // streams to every page on the web. Listed origins get credentials.
  if (origins.includes('*') && !origins.includes(origin)) {
    return { 'access-control-allow-origin': '*', 'access-control-expose-headers': 'traceparent' };
  }
  return {
    'access-control-allow-origin': origin,
    'access-control-allow-credentials': 'true',
    'access-control-expose-headers': 'traceparent',
    vary: 'Origin',
  };
}

/**
 * Answers a CORS preflight (OPTIONS) with 204: the CORS headers when the origin is allowed, and always the methods and
 * request headers the route accepts. Browsers cache the answer for 10 minutes.
 */
export function answerPreflight(res: ServerResponse, cors: Record<string, string>, methods: string, headers: string): void {
  res.writeHead(204, {
    ...cors,
    'access-control-allow-methods': methods,
    'access-control-allow-headers': headers,
    'access-control-max-age': '600',
  });
  res.end();
}
