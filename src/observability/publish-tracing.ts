import type { PublishRequest } from '../broker/broker.js';
import type { TraceContext } from '../core/trace-context.js';
import type { Hub } from '../hub/hub.js';
import type { ServerPublication } from '../protocol/index.js';

/** What a traced broadcast needs of the hub: the fan-out, and how many it will reach (a span attribute). */
export type BroadcastHub = Pick<Hub, 'publish' | 'subscriberCount'>;

/**
 * The node's per-publication tracing (docs/observability.md): a producer span around a publish, a span around a
 * broker read made for a traced caller, and a consumer span around a publication's local fan-out with its sampled
 * write spans. The node calls these whether tracing is on or not; the no-op form adds no allocation per publication.
 */
export interface PublishTracing {
  /**
   * Sends `req` with `send`. Traced: under an `event_stream.publish` span, child of `parent` (else of the trace the
   * publication's own meta names), whose context travels in the publication's meta so every recipient continues
   * the trace. `data` is the publication's data as the caller gave it (its size is an attribute).
   */
  publish(req: PublishRequest, data: string, parent: TraceContext | undefined, send: (req: PublishRequest) => Promise<ServerPublication>): Promise<ServerPublication>;
  /** Runs a broker read; under a span named `name` (`history.read`, ...) when traced and `parent` is given. */
  read<T>(name: string, channel: string, parent: TraceContext | undefined, run: () => Promise<T>, count: (v: T) => number): Promise<T>;
  /** Fans `pub` out through `hub`; returns how many recipients. Traced publications get a `hub.broadcast` span. */
  broadcast(pub: ServerPublication, hub: BroadcastHub): number;
}

/** Tracing off: every call goes straight through (no span, no closure, no copy of the publication). */
export const noPublishTracing: PublishTracing = {
  publish: (req, _data, _parent, send) => send(req),
  read: (_name, _channel, _parent, run) => run(),
  broadcast: (pub, hub) => hub.publish(pub),
};
