/**
 * The connection token: a fixed one, or fetched with `getToken` and cached until it is known to be stale (the
 * server closed with 4005, refused an attempt, or the refresh timer wants a new one).
 */
import { TokenError, TimeoutError } from './errors.js';
import type { TokenOptions } from './options.js';

export class TokenSource {
  private cached: string | undefined;
  /** Set when the cached token must not be reused. */
  stale = false;

  constructor(
    private readonly opts: TokenOptions,
    private readonly timeout: number,
  ) {}

  /** Whether a new token can be had (without `getToken` an expired token is the end). */
  get refreshable(): boolean {
    return this.opts.getToken !== undefined;
  }

  /**
   * Whether the client authenticates without tokens (cookies, the server's connect proxy): when the server's session
   * expires (4005), reconnecting is how the server checks again.
   */
  get tokenless(): boolean {
    return this.opts.getToken === undefined && this.opts.token === undefined;
  }

  /** The token for the next attempt; undefined when the client uses none (development mode, cookies). */
  async current(): Promise<string | undefined> {
    if (!this.opts.getToken) return this.opts.token;
    if (this.cached === undefined || this.stale) return this.fetch();
    return this.cached;
  }

  /** Calls `getToken` (bounded by `timeout`) and caches the result. */
  async fetch(): Promise<string> {
    const get = this.opts.getToken!;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const token = await Promise.race([
        Promise.resolve().then(get),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new TimeoutError('getToken', this.timeout)), this.timeout);
        }),
      ]);
      if (typeof token !== 'string') throw new TokenError(`getToken must return a string, got ${typeof token}`);
      this.cached = token;
      this.stale = false;
      return token;
    } catch (err) {
      if (err instanceof TokenError) throw err;
      throw new TokenError(`getToken failed: ${err instanceof Error ? err.message : String(err)}`, err);
    } finally {
      clearTimeout(timer);
    }
  }
}
