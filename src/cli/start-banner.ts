/**
 * What `switchboard serve` tells a person at start-up: the URL to open, the mode, and whether spans are exported
 * (and where). On a terminal these are plain lines; in JSON mode the tracing state is a log entry.
 */
import type { Config } from '../config/index.js';
import { resolveTracingSettings } from '../observability/tracing.js';

/** The address a browser on this machine can open: a wildcard bind is reachable on loopback. */
export function openUrl(config: Config, port: number): string {
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const shown = host.includes(':') ? `[${host}]` : host;
  return `${config.tls.cert ? 'https' : 'http'}://${shown}:${port}`;
}

/** e.g. "listening on http://127.0.0.1:8080 — demo at /, development mode: no auth". */
export function listeningLine(config: Config, port: number): string {
  const jwt = Boolean(config.jwt.secret || config.jwt.publicKey || config.jwt.jwksUrl);
  const parts = [
    config.demo.enabled ? 'demo at /' : '',
    jwt ? 'JWT auth on' : 'development mode: no auth (user ids from ?user=)',
    config.apiKey ? 'server API needs the API key' : jwt ? '' : 'server API open to this machine only',
  ].filter(Boolean);
  const wildcard = config.host === '0.0.0.0' || config.host === '::' ? ` (bound to ${config.host}: all interfaces)` : '';
  return `listening on ${openUrl(config, port)}${wildcard} — ${parts.join(', ')}`;
}

export interface TracingState {
  readonly on: boolean;
  /** One sentence: off and how to turn it on, or where spans go. */
  readonly line: string;
  readonly exporters: readonly string[];
  readonly url?: string;
  readonly sampler?: string;
}

/** Reads the same OTEL_* variables as the server (resolveTracingSettings), without building anything. */
export function tracingState(env: Readonly<Record<string, string | undefined>>): TracingState {
  const s = resolveTracingSettings({ ...env }, { serviceName: 'switchboard', serviceVersion: '', nodeId: '' });
  if (!s.enabled) {
    return { on: false, exporters: [], line: 'tracing off (set OTEL_EXPORTER_OTLP_ENDPOINT, e.g. http://localhost:4318, to send spans to an OTLP collector)' };
  }
  const where = s.exporters.map((e) => (e === 'console' ? 'stdout (console exporter)' : `${s.otlp!.url} (OTLP ${s.otlp!.protocol})`));
  return {
    on: true, exporters: s.exporters, url: s.otlp?.url, sampler: s.sampler,
    line: `tracing on: spans go to ${where.join(' and ')}, sampler ${s.sampler}`,
  };
}
