/**
 * Reports this node to the broker's node registry (when the broker has one: Redis), so any node can answer the
 * API's `online`, `channels` and `stats` for all of them. Without a registry, only `report()` is used (this node's
 * own view).
 */
import type { NodeRegistry, NodeReport } from '../broker/broker.js';
import type { SwitchboardNode } from '../node.js';
import { nodeStats, type StatsSource } from './node-stats.js';

/** How often a node reports itself to the registry (ms); a report lives three times as long. */
const REPORT_INTERVAL_MS = 2000;

export type ReportSource = StatsSource & Pick<SwitchboardNode, 'config' | 'logger'>;

export class RegistryReporter {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly node: ReportSource) {}

  /** The broker's registry of live nodes, when it has one (Redis): aggregated online users and stats. */
  get registry(): NodeRegistry | undefined {
    return this.node.broker.registry;
  }

  /** Starts reporting every 2 s (after the node started, so the broker is connected). No-op without a registry. */
  start(): void {
    const registry = this.registry;
    if (!registry || this.timer) return;
    const report = () => {
      registry.reportNode(this.report(), REPORT_INTERVAL_MS * 3).catch((err: unknown) => this.node.logger.debug({ err }, 'node report failed'));
    };
    report();
    this.timer = setInterval(report, REPORT_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** This node's users, channels and stats, as reported to the others. */
  report(): NodeReport {
    const hub = this.node.hub;
    const users: Record<string, number> = {};
    for (const u of hub.userIds()) users[u] = hub.connectionsOf(u);
    return { id: this.node.id, users, stats: nodeStats(this.node), ...this.reportedChannels() };
  }

  /** This node's channels with local subscriber counts, bounded by `redis.reportChannels` (the busiest kept). */
  private reportedChannels(): { channels: Record<string, number>; channelsTruncated: boolean } {
    const cap = this.node.config.redis.reportChannels;
    let list = this.node.hub.channelList();
    const channelsTruncated = list.length > cap;
    if (channelsTruncated) list = list.sort((a, b) => b.subscribers - a.subscribers).slice(0, cap);
    const channels: Record<string, number> = {};
    for (const c of list) channels[c.channel] = c.subscribers;
    return { channels, channelsTruncated };
  }
}
