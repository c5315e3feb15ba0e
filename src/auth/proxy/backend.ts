/**
 * One HTTP call to the application's backend (docs/proxy.md): a JSON POST with the shared-secret header and the
 * trace context, a deadline that holds until the whole answer is read, a bound on the answer's size and on the calls
 * in flight. Every failure becomes a ReplyError with a documented code; nothing waits past `proxy.timeout`.
 */
import type { TraceContext } from '../../core/trace-context.js';
import { ErrorCode, ReplyError } from '../../protocol/index.js';
import { parseAnswer, type ProxyAnswer } from './answer.js';

export type ProxyKind = 'connect' | 'subscribe' | 'publish' | 'rpc';

/** The header that carries `proxy.secret`. */
export const SECRET_HEADER = 'x-switchboard-proxy-secret';

export interface ProxyBackendOptions {
  /** `proxy.secret`; empty: no header. */
  readonly secret: string;
  /** `proxy.timeout`, ms (default 5 s). */
  readonly timeout: number;
  /** `proxy.maxConcurrency`: calls in flight on this node (default 256). */
  readonly maxConcurrency: number;
  /** `proxy.maxResponseSize`, bytes (default 64 KiB). */
  readonly maxResponseSize: number;
}

/** Told of every call's outcome (`ok`, `refused` or an error code) and duration in ms: metrics, limit logs. */
export type ProxyObserver = (kind: ProxyKind, outcome: string, ms: number) => void;

export class ProxyBackend {
  private inFlight = 0;

  constructor(
    private readonly opts: ProxyBackendOptions,
    private readonly observe: ProxyObserver = () => {},
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  /** Calls in flight now. */
  get active(): number {
    return this.inFlight;
  }

  /** POSTs `body` (JSON) to `url`; the backend's answer (a result or its refusal), or a ReplyError. */
  async call(kind: ProxyKind, url: string, body: unknown, trace?: TraceContext): Promise<ProxyAnswer> {
    const started = Date.now();
    if (this.inFlight >= this.opts.maxConcurrency) {
      this.observe(kind, ErrorCode.BackendUnavailable, 0);
      throw new ReplyError(ErrorCode.BackendUnavailable, `the application backend is busy: ${this.opts.maxConcurrency} calls in flight (proxy.maxConcurrency)`);
    }
    this.inFlight++;
    try {
      const answer = parseAnswer(await this.post(kind, url, body, trace));
      this.observe(kind, answer.ok ? 'ok' : 'refused', Date.now() - started);
      return answer;
    } catch (err) {
      const e = err instanceof ReplyError ? err : new ReplyError(ErrorCode.BackendInvalid, `the ${kind} proxy's answer is not valid JSON`);
      this.observe(kind, e.code, Date.now() - started);
      throw e;
    } finally {
      this.inFlight--;
    }
  }

  /** The answer's body as text, read within the deadline and the size bound. */
  private async post(kind: ProxyKind, url: string, body: unknown, trace: TraceContext | undefined): Promise<string> {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (this.opts.secret) headers[SECRET_HEADER] = this.opts.secret;
    if (trace?.traceparent) headers.traceparent = trace.traceparent;
    if (trace?.tracestate) headers.tracestate = trace.tracestate;
    // One deadline for connecting, the status line and the whole body: a backend that trickles its answer fails too.
    const signal = AbortSignal.timeout(this.opts.timeout);
    const timedOut = () => new ReplyError(ErrorCode.BackendTimeout, `the ${kind} proxy did not answer within ${this.opts.timeout} ms (proxy.timeout)`);
    let res: Response;
    try {
      res = await this.fetchImpl(url, { method: 'POST', headers, body: JSON.stringify(body), signal, redirect: 'error' });
    } catch (err) {
      if (signal.aborted) throw timedOut();
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      throw new ReplyError(ErrorCode.BackendUnavailable, `the ${kind} proxy cannot be reached${cause ? ` (${cause})` : ''}`);
    }
    if (res.status !== 200) {
      void res.body?.cancel().catch(() => {});
      throw new ReplyError(ErrorCode.BackendUnavailable, `the ${kind} proxy answered HTTP ${res.status}`);
    }
    try {
      return await readBounded(res, this.opts.maxResponseSize, kind);
    } catch (err) {
      if (signal.aborted) throw timedOut();
      throw err;
    }
  }
}

/** The body as UTF-8 text, or `backend_invalid` past `max` bytes (the rest is not read). */
async function readBounded(res: Response, max: number, kind: ProxyKind): Promise<string> {
  if (!res.body) return '';
  const declared = Number(res.headers.get('content-length') ?? NaN);
  const tooLarge = () => new ReplyError(ErrorCode.BackendInvalid, `the ${kind} proxy's answer exceeds proxy.maxResponseSize (${max} bytes)`);
  if (declared > max) {
    void res.body.cancel().catch(() => {});
    throw tooLarge();
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      void reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
