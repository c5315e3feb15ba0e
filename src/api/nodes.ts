/**
 * `GET /api/online`, `/api/channels` and `/api/stats`: every live node's view when the broker keeps a node registry
 * (Redis; each node reports every 2 s, src/node/registry-reporter.ts), else this node's. This node's own view is
 * always current; the others' are their latest reports.
 */
import { nodeStats, type StatsSource } from '../node/node-stats.js';
import type { RegistryReporter } from '../node/registry-reporter.js';

type Reports = Pick<RegistryReporter, 'registry' | 'report'>;

/** Users online, connections summed over nodes. */
export async function onlineUsers(node: Pick<StatsSource, 'id'>, reporter: Reports): Promise<unknown> {
  const registry = reporter.registry;
  const reports = registry ? await registry.nodes() : [reporter.report()];
  const users = new Map<string, number>();
  for (const r of reports) {
    if (r.id === node.id) continue;
    for (const [u, n] of Object.entries(r.users)) users.set(u, (users.get(u) ?? 0) + n);
  }
  for (const [u, n] of Object.entries(reporter.report().users)) users.set(u, (users.get(u) ?? 0) + n);
  return {
    count: users.size,
    nodes: Math.max(1, reports.length),
    users: [...users].map(([user, connections]) => ({ user, connections })),
    // Seed 002's field: the same users, as a list of ids (what its clients read).
    online_users: [...users.keys()],
  };
}

/**
 * Channels with subscribers on any live node, subscriber counts summed over nodes. Each node lists at most
 * `redis.reportChannels` channels: `truncated` names the nodes that had more, so the list (and the counts) may miss
 * their quieter channels.
 */
export async function channelCounts(reporter: Reports): Promise<unknown> {
  const { counts, reports } = await channelSubscriberCounts(reporter);
  return {
    channels: [...counts].map(([channel, subscribers]) => ({ channel, subscribers })),
    nodes: reports.length,
    truncated: reports.filter((r) => r.channelsTruncated).map((r) => r.id),
  };
}

/** Subscribers per channel summed over the live nodes' reports (channelCounts; Pusher's channel info). */
export async function channelSubscriberCounts(reporter: Reports) {
  const registry = reporter.registry;
  const own = reporter.report();
  const reports = registry ? (await registry.nodes()).filter((r) => r.id !== own.id) : [];
  reports.push(own);
  const counts = new Map<string, number>();
  for (const r of reports) for (const [c, n] of Object.entries(r.channels ?? {})) counts.set(c, (counts.get(c) ?? 0) + n);
  return { counts, reports };
}

/** This node's stats, plus every live node's latest (`nodes`) when the broker keeps a node registry. */
export async function nodesStats(node: StatsSource, reporter: Reports): Promise<unknown> {
  const local = nodeStats(node);
  const registry = reporter.registry;
  if (!registry) return local;
  const reports = await registry.nodes();
  return { ...local, nodes: reports.map((r) => (r.id === node.id ? local : r.stats)) };
}
