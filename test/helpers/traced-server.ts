/**
 * For end-to-end trace tests: a real Switchboard on 127.0.0.1 whose spans go over OTLP/HTTP (protobuf, batches every
 * 50 ms) to `otlpUrl`, with every per-recipient write traced, and a publish through the server API that starts a
 * new sampled (or unsampled) trace with the caller's `traceparent` header.
 */
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config/index.js';
import { createSwitchboard, type Switchboard } from '../../src/server.js';
import { Cleanup, withTimeout, type Closable } from './wait.js';

export interface TracedServer {
  readonly sb: Switchboard;
  readonly url: string;
  readonly wsUrl: string;
  readonly port: number;
  track<T extends Closable>(c: T): T;
  /** `POST /api/publish` under a fresh trace: returns its ids and the publication's position. */
  publish(channel: string, data: unknown, opts?: { sampled?: boolean }): Promise<{ traceId: string; spanId: string; epoch: string; offset: number }>;
  close(): Promise<void>;
}

export async function startTracedServer(otlpUrl: string, flags: string[] = [], serviceName = 'switchboard'): Promise<TracedServer> {
  const config = loadConfig({
    argv: [
      '--port', '0', '--host', '127.0.0.1', '--log-level', 'silent', '--shutdown.timeout', '1s', '--limits.connectRate', '0',
      '--tracing.writeSampleRate', '1', '--tracing.maxWriteSpans', '0', ...flags,
    ],
  });
  const env = { OTEL_EXPORTER_OTLP_ENDPOINT: otlpUrl, OTEL_BSP_SCHEDULE_DELAY: '50', OTEL_SERVICE_NAME: serviceName };
  const sb = createSwitchboard({ config, env });
  const { port } = await sb.listen();
  const url = `http://127.0.0.1:${port}`;
  const cleanup = new Cleanup();
  let closing: Promise<void> | undefined;
  return {
    sb,
    url,
    port,
    wsUrl: `ws://127.0.0.1:${port}${config.websocket.path}`,
    track: (c) => cleanup.add(c),
    async publish(channel, data, opts = {}) {
      const traceId = randomBytes(16).toString('hex');
      const spanId = randomBytes(8).toString('hex');
      const traceparent = `00-${traceId}-${spanId}-${opts.sampled === false ? '00' : '01'}`;
      const res = await withTimeout(
        fetch(`${url}/api/publish`, { method: 'POST', headers: { 'content-type': 'application/json', traceparent }, body: JSON.stringify({ channel, data }) }),
        5000,
        'POST /api/publish',
      );
      const body = (await res.json()) as { epoch: string; offset: number };
      if (res.status !== 200) throw new Error(`publish to ${channel}: ${res.status} ${JSON.stringify(body)}`);
      return { traceId, spanId, epoch: body.epoch, offset: body.offset };
    },
    close: () =>
      (closing ??= (async () => {
        try {
          await cleanup.run();
        } finally {
          await withTimeout(sb.shutdown(), 15_000, 'server shutdown');
        }
      })()),
  };
}
