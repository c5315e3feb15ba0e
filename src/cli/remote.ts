/**
 * What the client-side commands (publish, subscribe) share: which server to reach and with which credentials, from
 * flags first, then the environment. SWITCHBOARD_URL and SWITCHBOARD_TOKEN belong to these commands only (the server
 * ignores them); SWITCHBOARD_API_KEY is the server's own key option, so one variable configures both sides.
 */
export const DEFAULT_URL = 'http://localhost:8080';

export interface Remote {
  /** Base URL, http(s)://host:port, no trailing slash. */
  readonly url: string;
  readonly apiKey?: string;
  readonly token?: string;
}

/** A usage or input problem: printed as one line, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A problem talking to the server: printed as one line, exit code 1. */
export class RemoteError extends Error {
  override readonly name = 'RemoteError';
}

export function remoteFrom(
  values: { url?: string | undefined; 'api-key'?: string | undefined; token?: string | undefined },
  env: Readonly<Record<string, string | undefined>>,
): Remote {
  const raw = values.url ?? (env.SWITCHBOARD_URL || DEFAULT_URL);
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new UsageError(`--url "${raw}" is not a URL; use one such as ${DEFAULT_URL}`);
  }
  if (parsed.protocol === 'ws:' || parsed.protocol === 'wss:') parsed.protocol = parsed.protocol === 'ws:' ? 'http:' : 'https:';
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new UsageError(`--url "${raw}" must start with http://, https://, ws:// or wss://`);
  }
  const apiKey = values['api-key'] ?? (env.SWITCHBOARD_API_KEY || undefined);
  const token = values.token ?? (env.SWITCHBOARD_TOKEN || undefined);
  return { url: parsed.origin + parsed.pathname.replace(/\/+$/, ''), ...(apiKey ? { apiKey } : {}), ...(token ? { token } : {}) };
}

/** Turns fetch's network failures into one actionable line. */
export function unreachable(url: string, err: unknown): RemoteError {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const why = cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
  return new RemoteError(`cannot reach ${url} (${why}). Is the server running? Set --url or SWITCHBOARD_URL.`);
}

/** Reads a server API error body `{"error":{"code","message"}}` into one line. */
export async function apiFailure(res: Response): Promise<RemoteError> {
  const text = await res.text();
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
    if (body.error?.code) return new RemoteError(`${res.status} ${body.error.code}: ${body.error.message ?? ''}`.trimEnd());
  } catch {
    // not our JSON: fall through to the raw text
  }
  return new RemoteError(`${res.status} ${res.statusText}: ${text.slice(0, 200)}`);
}
