/**
 * Overview: every node's counters from the stats stream (`/admin/stream`, one `stats` event per admin.statsInterval),
 * a table of nodes and four charts of the cluster totals. Rates are differences of the counters between two events;
 * the last 5 minutes are kept here, in the browser.
 */
import { byId, h } from '../demo/dom.js';
import { Sparkline } from '../demo/sparkline.js';

interface NodeStats {
  state?: string;
  uptimeSeconds?: number;
  connections?: number;
  users?: number;
  channels?: number;
  publications?: number;
  messagesIn?: number;
  deliveries?: number;
  memoryBytes?: number;
}
interface StatsEvent {
  time: number;
  self: string;
  nodes: { id: string; stats: NodeStats }[];
}

const WINDOW_MS = 5 * 60_000;

export class Overview {
  private readonly last = new Map<string, { time: number; inn: number; out: number }>();
  private charts: Record<'connections' | 'in' | 'out' | 'memory', Sparkline> | undefined;
  private source: EventSource | undefined;

  constructor(private readonly onState: (state: string, label: string) => void) {}

  start(intervalHintMs = 2000): void {
    const points = Math.round(WINDOW_MS / intervalHintMs);
    const color = getComputedStyle(document.documentElement).getPropertyValue('--accent').trim() || '#4f46e5';
    this.charts ??= {
      connections: new Sparkline(byId<HTMLCanvasElement>('chart-connections'), color, points),
      in: new Sparkline(byId<HTMLCanvasElement>('chart-in'), '#16a34a', points),
      out: new Sparkline(byId<HTMLCanvasElement>('chart-out'), '#d97706', points),
      memory: new Sparkline(byId<HTMLCanvasElement>('chart-memory'), '#0891b2', points),
    };
    this.stop();
    this.onState('connecting', 'Connecting…');
    const es = new EventSource('/admin/stream');
    this.source = es;
    es.addEventListener('open', () => this.onState('connected', 'Live'));
    es.addEventListener('error', () => this.onState(es.readyState === EventSource.CLOSED ? 'disconnected' : 'reconnecting', es.readyState === EventSource.CLOSED ? 'Stream closed' : 'Reconnecting…'));
    es.addEventListener('stats', (e) => this.render(JSON.parse((e as MessageEvent<string>).data) as StatsEvent));
  }

  stop(): void {
    this.source?.close();
    this.source = undefined;
  }

  redraw(): void {
    if (this.charts) for (const c of Object.values(this.charts)) c.draw();
  }

  private render(ev: StatsEvent): void {
    const body = byId('nodes').querySelector('tbody')!;
    const rows: HTMLElement[] = [];
    let conns = 0, inRate = 0, outRate = 0, memory = 0;
    for (const n of ev.nodes) {
      const s = n.stats;
      const inn = (s.publications ?? 0) + (s.messagesIn ?? 0);
      const out = s.deliveries ?? 0;
      const prev = this.last.get(n.id);
      const dt = prev ? (ev.time - prev.time) / 1000 : 0;
      const ri = prev && dt > 0 ? Math.max(0, (inn - prev.inn) / dt) : 0;
      const ro = prev && dt > 0 ? Math.max(0, (out - prev.out) / dt) : 0;
      this.last.set(n.id, { time: ev.time, inn, out });
      conns += s.connections ?? 0;
      inRate += ri;
      outRate += ro;
      memory += s.memoryBytes ?? 0;
      rows.push(h('tr', { 'data-node': n.id, class: n.id === ev.self ? 'self' : undefined },
        h('td', { class: 'mono' }, n.id, n.id === ev.self ? h('span', { class: 'tag' }, 'this node') : null),
        h('td', {}, s.state ?? ''),
        h('td', { class: 'num connections' }, String(s.connections ?? 0)),
        h('td', { class: 'num' }, String(s.users ?? 0)),
        h('td', { class: 'num' }, String(s.channels ?? 0)),
        h('td', { class: 'num' }, rate(ri)),
        h('td', { class: 'num' }, rate(ro)),
        h('td', { class: 'num' }, bytes(s.memoryBytes ?? 0)),
        h('td', { class: 'num' }, duration(s.uptimeSeconds ?? 0))));
    }
    body.replaceChildren(...rows);
    byId('node-count').textContent = String(ev.nodes.length);
    byId('total-connections').textContent = String(conns);
    byId('total-in').textContent = rate(inRate);
    byId('total-out').textContent = rate(outRate);
    byId('total-memory').textContent = bytes(memory);
    this.charts?.connections.push(conns);
    this.charts?.in.push(inRate);
    this.charts?.out.push(outRate);
    this.charts?.memory.push(memory);
  }
}

function rate(v: number): string {
  return v >= 100 ? String(Math.round(v)) : v.toFixed(1);
}

export function bytes(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(1)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(0)} MiB`;
  return `${Math.round(n / 1024)} KiB`;
}

function duration(s: number): string {
  if (s >= 86400) return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
  if (s >= 3600) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 60)}m ${s % 60}s`;
}
