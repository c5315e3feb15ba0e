/**
 * Users: who is online (`GET /api/online`), one user's connections on every node (`GET /api/connections`), and
 * disconnecting one connection or all of them with a chosen code (`POST /api/disconnect`).
 */
import { byId, clock, h } from '../demo/dom.js';
import { call, q } from './api.js';
import { messageOf } from './channels.js';

interface Connection { node: string; client: string; transport: string; ip: string; since: number; channels: string[] }

export class Users {
  private online: { user: string; connections: number }[] = [];
  private current: string | undefined;

  constructor() {
    byId('users-refresh').addEventListener('click', () => void this.refresh());
    const search = byId<HTMLInputElement>('user-search');
    search.addEventListener('input', () => this.renderList());
    byId('user-form').addEventListener('submit', (e) => {
      e.preventDefault();
      if (search.value.trim()) void this.open(search.value.trim());
    });
    byId('disconnect-all').addEventListener('click', () => void this.disconnect(undefined));
  }

  async refresh(): Promise<void> {
    const r = await call<{ users: { user: string; connections: number }[] }>('GET', '/api/online');
    this.online = r.users.sort((a, b) => a.user.localeCompare(b.user));
    this.renderList();
    if (this.current) await this.open(this.current);
  }

  private renderList(): void {
    const term = byId<HTMLInputElement>('user-search').value.trim().toLowerCase();
    const shown = this.online.filter((u) => u.user.toLowerCase().includes(term)).slice(0, 500);
    byId('user-count').textContent = String(this.online.length);
    byId('users').replaceChildren(...shown.map((u) => h('li', { 'data-user': u.user, class: u.user === this.current ? 'active' : undefined },
      h('button', { type: 'button', onclick: () => void this.open(u.user) }, h('span', {}, u.user), h('span', { class: 'count' }, String(u.connections))))));
  }

  private async open(user: string): Promise<void> {
    this.current = user;
    this.renderList();
    byId('user-detail').hidden = false;
    byId('user-name').textContent = user;
    byId('user-error').hidden = true;
    const r = await call<{ connections: Connection[]; missing: string[] }>('GET', `/api/connections?user=${q(user)}`);
    byId('user-connection-count').textContent = String(r.connections.length);
    byId('connections').querySelector('tbody')!.replaceChildren(...r.connections.map((c) => h('tr', { 'data-client': c.client },
      h('td', { class: 'mono' }, c.client),
      h('td', { class: 'mono' }, c.node),
      h('td', {}, c.transport),
      h('td', { class: 'mono' }, c.ip),
      h('td', {}, clock(c.since)),
      h('td', {}, c.channels.join(', ') || '—'),
      h('td', {}, h('button', { type: 'button', class: 'small danger disconnect-one', onclick: () => void this.disconnect(c.client) }, 'Disconnect')))));
    if (r.missing.length) this.error(`no answer from node(s) ${r.missing.join(', ')}: their connections are not listed`);
  }

  private async disconnect(client: string | undefined): Promise<void> {
    const user = this.current;
    if (!user) return;
    const code = Number(byId<HTMLSelectElement>('disconnect-code').value);
    const reason = byId<HTMLInputElement>('disconnect-reason').value.trim() || undefined;
    try {
      await call('POST', '/api/disconnect', { user, code, ...(client ? { client } : {}), ...(reason ? { reason } : {}) });
      // Give the nodes a moment to close them, then show what is left.
      setTimeout(() => void this.refresh().catch((err: unknown) => this.error(messageOf(err))), 300);
    } catch (err) {
      this.error(messageOf(err));
    }
  }

  private error(text: string): void {
    const el = byId('user-error');
    el.hidden = false;
    el.textContent = text;
  }
}
