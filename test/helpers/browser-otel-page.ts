/**
 * The browser side of test/e2e/client-tracing-browser.test.ts, bundled for the page with esbuild: the real
 * OpenTelemetry tracing SDK (@opentelemetry/sdk-trace-base, browser build) exporting OTLP/JSON with the browser
 * exporter, registered as the page's global provider with a synchronous stack context manager (what the web SDK's
 * `WebTracerProvider.register()` installs; @opentelemetry/sdk-trace-web is not a dependency here), and the SDK's
 * `otelTracing` hook over the API.
 */
import * as otel from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { otelTracing } from '../../src/client/otel.js';
import type { ClientTracing } from '../../src/client/index.js';

/** A context manager for synchronous code: `with` makes a context active for the callback's duration. */
class StackContextManager implements otel.ContextManager {
  private current = otel.ROOT_CONTEXT;
  active(): otel.Context {
    return this.current;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(context: otel.Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F> {
    const previous = this.current;
    this.current = context;
    try {
      return fn.call(thisArg, ...args);
    } finally {
      this.current = previous;
    }
  }
  bind<T>(context: otel.Context, target: T): T {
    if (typeof target !== 'function') return target;
    const fn = target as unknown as (...a: unknown[]) => unknown;
    return ((...a: unknown[]) => this.with(context, () => fn(...a))) as unknown as T;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.current = otel.ROOT_CONTEXT;
    return this;
  }
}

export function startTracing(otlpUrl: string, serviceName: string): { tracing: ClientTracing; flush(): Promise<void>; appSpan(name: string): void } {
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': serviceName }),
    spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: `${otlpUrl}/v1/traces` }))],
  });
  // As a page would with its web tracer provider: registered globally, found by otelTracing through the API.
  otel.trace.setGlobalTracerProvider(provider);
  otel.context.setGlobalContextManager(new StackContextManager());
  return {
    tracing: otelTracing(otel),
    flush: () => provider.forceFlush(),
    // A span the app starts in a listener: the active context there is the client's receive span.
    appSpan: (name) => otel.trace.getTracer('page').startSpan(name).end(),
  };
}
