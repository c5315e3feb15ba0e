/**
 * "Which connections does this user have, on every node?" over the broker's control channel: the asking node
 * publishes a `connections-query` naming the nodes the registry says hold the user; each of them answers with a
 * `connections-reply`. The answer is whatever arrived within the timeout (a node that died answers nothing and is
 * left out, marked `missing`). Operator reads only (the admin console, `GET /api/connections`): never on a hot path.
 */
import { randomUUID } from 'node:crypto';
import type { ConnectionSnapshot, ControlMessage, NodeRegistry } from '../broker/broker.js';
import { ErrorCode, ReplyError } from '../protocol/index.js';

/** Queries waiting for replies at once on this node; one more is refused with `limit_exceeded`. */
const MAX_PENDING = 32;
/** How long a query waits for the other nodes (ms). */
const TIMEOUT_MS = 1000;

export interface NodeConnections {
  readonly node: string;
  readonly connections: readonly ConnectionSnapshot[];
}

interface Pending {
  readonly got: NodeConnections[];
  readonly waiting: Set<string>;
  /** Set once, to the resolver of the query's wait. */
  done: () => void;
}

export class ConnectionQueries {
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly nodeId: string,
    private readonly publish: (msg: ControlMessage) => Promise<void>,
    private readonly local: (user: string) => ConnectionSnapshot[],
  ) {}

  /**
   * The user's connections: this node's, and those of the other live nodes the broker's registry says hold the user
   * (none without a registry: the memory broker), asked over the control channel; late nodes are listed in `missing`.
   */
  async ofUser(user: string, registry: NodeRegistry | undefined): Promise<{ nodes: NodeConnections[]; missing: string[] }> {
    const others = registry ? (await registry.nodes()).filter((r) => r.id !== this.nodeId && (r.users[user] ?? 0) > 0).map((r) => r.id) : [];
    return this.ask(user, others);
  }

  /** This node's connections of `user`, then those of each of `others` that answered in time. */
  private async ask(user: string, others: readonly string[]): Promise<{ nodes: NodeConnections[]; missing: string[] }> {
    const own: NodeConnections = { node: this.nodeId, connections: this.local(user) };
    const targets = others.filter((n) => n !== this.nodeId);
    if (targets.length === 0) return { nodes: [own], missing: [] };
    if (this.pending.size >= MAX_PENDING) throw new ReplyError(ErrorCode.LimitExceeded, `at most ${MAX_PENDING} connection queries at once`);
    const id = randomUUID();
    let timer: NodeJS.Timeout | undefined;
    const p: Pending = { got: [], waiting: new Set(targets), done: () => {} };
    const finished = new Promise<void>((resolve) => {
      p.done = resolve;
      timer = setTimeout(resolve, TIMEOUT_MS);
    });
    this.pending.set(id, p);
    try {
      await this.publish({ kind: 'connections-query', id, from: this.nodeId, nodes: targets, user });
      await finished;
    } finally {
      clearTimeout(timer);
      this.pending.delete(id);
    }
    return { nodes: [own, ...p.got], missing: [...p.waiting] };
  }

  /** A control message of this protocol: answers a query naming this node, or collects a reply to this node. */
  onControl(msg: ControlMessage): void {
    if (msg.kind === 'connections-query') {
      if (msg.from === this.nodeId || !msg.nodes.includes(this.nodeId)) return;
      this.publish({ kind: 'connections-reply', id: msg.id, to: msg.from, node: this.nodeId, connections: this.local(msg.user) }).catch(() => {
        // The asker times out and lists this node as missing: nothing else to do.
      });
    } else if (msg.kind === 'connections-reply') {
      const p = msg.to === this.nodeId ? this.pending.get(msg.id) : undefined;
      if (!p || !p.waiting.delete(msg.node)) return;
      p.got.push({ node: msg.node, connections: msg.connections });
      if (p.waiting.size === 0) p.done();
    }
  }
}
