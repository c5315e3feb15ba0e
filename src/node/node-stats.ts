/**
 * What a node says about itself: the stats of `GET /api/stats` and of its registry report, and the gauges the
 * metrics exporter reads on each scrape. Read on demand from the hub, the broker and the counters; nothing is kept.
 */
import { encodeCounts } from '../delivery/encoded.js';
import type { MetricGauges } from '../observability/metrics.js';
import type { SwitchboardNode } from '../node.js';

/** The parts of a node the stats read. */
export type StatsSource = Pick<SwitchboardNode, 'id' | 'state' | 'startedAt' | 'hub' | 'broker' | 'counters' | 'scheduler' | 'isReady'>;

/** This node's stats (`GET /api/stats`, and the `stats` of its registry report). */
export function nodeStats(node: StatsSource): Record<string, unknown> {
  const c = node.counters;
  return {
    node: node.id,
    state: node.state,
    uptimeSeconds: Math.round((Date.now() - node.startedAt) / 1000),
    broker: node.broker.kind,
    ...node.hub.stats(),
    messagesIn: c.messagesReceived,
    publications: c.publications,
    deliveries: c.deliveries,
    drops: c.drops,
    slowDisconnects: c.slowDisconnects,
    writeRounds: node.scheduler.rounds,
    delayedWriteRounds: node.scheduler.delayedRounds,
    // Resident set size of this process (bytes): the admin console's memory column. One syscall, read on demand.
    memoryBytes: process.memoryUsage.rss(),
  };
}

/** Gauges read by the metrics exporter on each collection. */
export function nodeGauges(node: StatsSource): MetricGauges {
  const h = node.hub.stats();
  const b = node.broker.stats?.();
  // History gauges only from a broker that keeps history in this process (memory): Redis reports none.
  const history = b?.publications !== undefined
    ? { historyChannels: b.channels, historyPublications: b.publications, historyBytes: b.bytes, historyEvictions: b.evictedPublications }
    : {};
  return {
    connectionsByTransport: h.connectionsByTransport,
    channels: h.channels,
    subscriptions: h.subscriptions,
    users: h.users,
    ...history,
    // 0 when the broker has no connection to replace (memory).
    brokerSubscriberReplacements: b?.subscriberReplacements ?? 0,
    brokerCommandReplacements: b?.commandReplacements ?? 0,
    brokerSlow: { command: b?.commandSlow ?? 0, subscriber: b?.subscriberSlow ?? 0 },
    encodings: encodeCounts,
    ready: node.isReady(),
  };
}
