/**
 * Channels: the list (`GET /api/channels`, searched here), one channel's subscribers, presence
 * (`GET /api/presence`) and recent history (`GET /api/history?limit=20`), a live tail (`/admin/tail`, SSE) and a
 * publish form (`POST /api/publish`) whose JSON is checked as it is typed.
 */
import { byId, clock, h } from '../demo/dom.js';
import { ApiError, call, q } from './api.js';

/** A publication as the wire carries it (docs/protocol.md): `type` is the event, `payload` the data. */
interface Publication { channel: string; type: string; payload: unknown; offset: number; timestamp?: string }
interface Member { user: string; client: string }

/** Lines kept in the tail (the oldest go first). */
const TAIL_LINES = 200;

export class Channels {
  private all: { channel: string; subscribers: number }[] = [];
  private current: string | undefined;
  private tail: EventSource | undefined;

  constructor() {
    byId('channels-refresh').addEventListener('click', () => void this.refresh());
    const search = byId<HTMLInputElement>('channel-search');
    search.addEventListener('input', () => this.renderList());
    search.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && search.value.trim()) void this.open(search.value.trim());
    });
    byId('tail-toggle').addEventListener('click', () => (this.tail ? this.stopTail() : this.startTail()));
    const form = byId<HTMLFormElement>('publish-form');
    const data = form.elements.namedItem('data') as HTMLTextAreaElement;
    data.addEventListener('input', () => this.validate(data));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.publish(form);
    });
  }

  async refresh(): Promise<void> {
    const r = await call<{ channels: { channel: string; subscribers: number }[] }>('GET', '/api/channels');
    this.all = r.channels.sort((a, b) => b.subscribers - a.subscribers || a.channel.localeCompare(b.channel));
    this.renderList();
  }

  stop(): void {
    this.stopTail();
  }

  private renderList(): void {
    const term = byId<HTMLInputElement>('channel-search').value.trim().toLowerCase();
    const shown = this.all.filter((c) => c.channel.toLowerCase().includes(term)).slice(0, 500);
    byId('channel-count').textContent = String(this.all.length);
    byId('channels').replaceChildren(...shown.map((c) => h('li', { 'data-channel': c.channel, class: c.channel === this.current ? 'active' : undefined },
      h('button', { type: 'button', onclick: () => void this.open(c.channel) }, h('span', { class: 'mono' }, c.channel), h('span', { class: 'count' }, String(c.subscribers))))));
  }

  private async open(channel: string): Promise<void> {
    this.stopTail();
    this.current = channel;
    this.renderList();
    byId('channel-detail').hidden = false;
    byId('channel-name').textContent = channel;
    byId('channel-subscribers').textContent = String(this.all.find((c) => c.channel === channel)?.subscribers ?? 0);
    byId('tail').replaceChildren();
    byId('publish-result').textContent = '';
    const presence = byId('presence');
    const history = byId('history');
    try {
      const p = await call<{ members: Member[] }>('GET', `/api/presence?channel=${q(channel)}`);
      presence.replaceChildren(...(p.members.length ? p.members.map((m) => h('li', { 'data-user': m.user, title: m.client }, m.user)) : [h('li', { class: 'muted' }, 'nobody')]));
    } catch (err) {
      presence.replaceChildren(h('li', { class: 'muted' }, messageOf(err)));
    }
    try {
      const r = await call<{ publications: Publication[] }>('GET', `/api/history?channel=${q(channel)}&limit=20`);
      history.replaceChildren(...(r.publications.length ? r.publications.map(line) : [h('li', { class: 'muted' }, 'no history kept')]));
    } catch (err) {
      history.replaceChildren(h('li', { class: 'muted' }, messageOf(err)));
    }
  }

  private startTail(): void {
    const channel = this.current;
    if (!channel) return;
    const es = new EventSource(`/admin/tail?channel=${q(channel)}`);
    this.tail = es;
    const button = byId('tail-toggle');
    button.textContent = 'Stop tail';
    button.dataset.state = 'connecting';
    es.addEventListener('ready', () => (button.dataset.state = 'live'));
    const list = byId('tail');
    const add = (el: HTMLElement) => {
      list.prepend(el);
      while (list.childElementCount > TAIL_LINES) list.lastElementChild?.remove();
    };
    es.addEventListener('publication', (e) => add(line(JSON.parse((e as MessageEvent<string>).data) as Publication)));
    for (const kind of ['join', 'leave']) {
      es.addEventListener(kind, (e) => {
        const m = JSON.parse((e as MessageEvent<string>).data) as { user?: string };
        add(h('li', { class: 'member' }, h('span', { class: 'event' }, kind), ' ', m.user ?? ''));
      });
    }
  }

  private stopTail(): void {
    this.tail?.close();
    this.tail = undefined;
    const button = byId('tail-toggle');
    button.textContent = 'Start tail';
    delete button.dataset.state;
  }

  /** The JSON of the data field, or an error shown under it. */
  private validate(data: HTMLTextAreaElement): { ok: true; value: unknown } | { ok: false } {
    const error = byId('publish-error');
    try {
      const value: unknown = JSON.parse(data.value);
      error.hidden = true;
      data.removeAttribute('aria-invalid');
      return { ok: true, value };
    } catch (err) {
      error.hidden = false;
      error.textContent = `Not valid JSON: ${err instanceof Error ? err.message : String(err)}`;
      data.setAttribute('aria-invalid', 'true');
      return { ok: false };
    }
  }

  private async publish(form: HTMLFormElement): Promise<void> {
    const channel = this.current;
    if (!channel) return;
    const data = this.validate(form.elements.namedItem('data') as HTMLTextAreaElement);
    if (!data.ok) return;
    const event = (form.elements.namedItem('event') as HTMLInputElement).value.trim() || 'message';
    const result = byId('publish-result');
    try {
      const r = await call<{ offset: number }>('POST', '/api/publish', { channel, event, data: data.value });
      result.textContent = `Published at offset ${r.offset}`;
    } catch (err) {
      const error = byId('publish-error');
      error.hidden = false;
      error.textContent = messageOf(err);
      result.textContent = '';
    }
  }
}

function line(p: Publication): HTMLElement {
  return h('li', { 'data-offset': p.offset },
    h('span', { class: 'time' }, p.timestamp ? clock(p.timestamp) : `#${p.offset}`), ' ',
    h('span', { class: 'event' }, p.type), ' ',
    h('code', {}, JSON.stringify(p.payload)));
}

export function messageOf(err: unknown): string {
  return err instanceof ApiError ? `${err.message} (${err.code})` : err instanceof Error ? err.message : String(err);
}
