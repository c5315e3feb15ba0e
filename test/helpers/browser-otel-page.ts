/**
 * The browser side of test/e2e/client-tracing-browser.test.ts, bundled for the page with esbuild: the real
 * OpenTelemetry tracing SDK (@opentelemetry/sdk-trace-base, browser build) exporting OTLP/JSON with the browser
 * exporter, registered as the page's global provider, and the SDK's `otelTracing` hook over the API.
 */
import * as otel from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { otelTracing } from '../../src/client/otel.js';
import type { ClientTracing } from '../../src/client/index.js';

export function startTracing(otlpUrl: string, serviceName: string): { tracing: ClientTracing; flush(): Promise<void> } {
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': serviceName }),
    spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: `${otlpUrl}/v1/traces` }))],
  });
  // As a page would with its web tracer provider: registered globally, found by otelTracing through the API.
  otel.trace.setGlobalTracerProvider(provider);
  return { tracing: otelTracing(otel), flush: () => provider.forceFlush() };
}
