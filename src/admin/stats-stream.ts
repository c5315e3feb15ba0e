/**
 * The admin console's stats stream (`GET /admin/stream`): every `admin.statsInterval`, every live node's counters
 * (from the node registry on Redis, this node alone on memory) as one `stats` event. One timer and one registry
 * read per tick for all open streams; no timer while none is open. The browser keeps the last minutes and draws the
 * charts (rates are differences of these counters): the server keeps no history.
 */
import type { ServerResponse } from 'node:http';
import type { RegistryReporter } from '../node/registry-reporter.js';
import { AdminEventStream } from './event-stream.js';

type Reports = Pick<RegistryReporter, 'registry' | 'report'>;

export class StatsStream {
  private readonly streams = new Set<AdminEventStream>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly reporter: Reports,
    private readonly intervalMs: number,
  ) {}

  open(res: ServerResponse): void {
    const s = new AdminEventStream(res, () => {
      this.streams.delete(s);
      if (this.streams.size === 0) this.stop();
    });
    this.streams.add(s);
    void this.snapshot().then((json) => s.send('stats', json));
    if (!this.timer) {
      this.timer = setInterval(() => void this.tick(), this.intervalMs);
      this.timer.unref();
    }
  }

  get size(): number {
    return this.streams.size;
  }

  close(): void {
    for (const s of [...this.streams]) s.end();
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async tick(): Promise<void> {
    const json = await this.snapshot();
    for (const s of this.streams) s.send('stats', json);
  }

  /** `{time, nodes: [{id, stats}]}`: this node's stats now, the others' latest reports. */
  private async snapshot(): Promise<string> {
    const own = this.reporter.report();
    let others: { id: string; stats: Record<string, unknown> }[] = [];
    const registry = this.reporter.registry;
    if (registry) {
      try {
        others = (await registry.nodes()).filter((r) => r.id !== own.id);
      } catch {
        // Redis down: this node alone until it is back (the console shows the others vanish, which is the truth here).
      }
    }
    const nodes = [own, ...others].map((r) => ({ id: r.id, stats: r.stats }));
    return JSON.stringify({ time: Date.now(), self: own.id, nodes });
  }
}
