/**
 * Notifications to one user (seed 002 `notification`: title, body, link, priority). They arrive as the client's
 * `message` event (server API `POST /api/send`, to every connection of the user and nobody else). Sending: the demo
 * form posts to `POST /demo/notify` when the server runs the demo producer; otherwise the panel shows the backend's
 * `curl` command, because sending to a user is the backend's right (it needs the API key).
 */
import type { Client, DirectMessage } from '../../src/client/index.js';
import { byId, clock, errorText, h } from './dom.js';

export interface Notification {
  title?: string;
  body?: string;
  link?: string;
  priority?: 'low' | 'normal' | 'high';
  from?: string;
}

/** Cards kept on screen; older ones are dropped. */
const MAX_SHOWN = 30;

export class Notifications {
  private readonly list = byId<HTMLOListElement>('notifications');
  private count = 0;

  constructor(client: Client, private readonly me: () => string, notifyEnabled: boolean) {
    client.on('message', (m) => this.show(m));
    if (notifyEnabled) this.setUpForm();
    else {
      this.showCommand();
      client.on('connected', () => this.showCommand()); // JWT mode: the user id is known once connected
    }
  }

  private show(m: DirectMessage): void {
    const n = (m.event === 'notification' && typeof m.data === 'object' && m.data !== null ? m.data : { title: m.event, body: JSON.stringify(m.data) }) as Notification;
    const priority = n.priority === 'high' || n.priority === 'low' ? n.priority : 'normal';
    const link = typeof n.link === 'string' && /^https?:\/\//.test(n.link) ? h('a', { href: n.link, target: '_blank', rel: 'noopener noreferrer' }, 'Open') : null;
    const card = h('li', { class: `note ${priority}`, 'data-priority': priority },
      h('div', { class: 'note-head' },
        h('strong', {}, String(n.title ?? 'Notification')),
        priority !== 'normal' ? h('span', { class: `badge ${priority}` }, priority) : null,
        h('time', { datetime: m.timestamp }, clock(m.timestamp))),
      n.body ? h('p', {}, String(n.body)) : null,
      n.from || link ? h('div', { class: 'note-foot' }, n.from ? `from ${n.from}` : '', link) : null,
    );
    this.list.querySelector('.empty')?.remove();
    this.list.prepend(card);
    while (this.list.children.length > MAX_SHOWN) this.list.lastElementChild!.remove();
    this.count++;
    const badge = byId('notify-count');
    badge.textContent = String(this.count);
    badge.hidden = false;
  }

  private setUpForm(): void {
    const form = byId<HTMLFormElement>('notify-form');
    const result = byId('notify-result');
    form.hidden = false;
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const data = new FormData(form);
      const body = {
        user: String(data.get('to') ?? '').trim(),
        title: String(data.get('title') ?? '').trim(),
        body: String(data.get('body') ?? '').trim(),
        priority: String(data.get('priority') ?? 'normal'),
        from: this.me(),
      };
      result.textContent = 'Sending…';
      fetch('/demo/notify', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
        .then(async (r) => {
          if (r.ok) {
            result.textContent = `Sent to ${body.user}.`;
            (form.elements.namedItem('title') as HTMLInputElement).value = '';
            (form.elements.namedItem('body') as HTMLInputElement).value = '';
          } else {
            const e = (await r.json().catch(() => ({}))) as { error?: { code: string; message: string } };
            result.textContent = `Not sent: ${e.error ? `${e.error.code}: ${e.error.message}` : r.status}`;
          }
        })
        .catch((err: unknown) => (result.textContent = `Not sent: ${errorText(err)}`));
    });
  }

  private showCommand(): void {
    const pre = byId('notify-command');
    const user = this.me();
    pre.textContent =
      `curl -s ${location.origin}/api/send \\\n  -H 'content-type: application/json' \\\n` +
      `  -d '{"user":"${user}","event":"notification","data":{"title":"Hello ${user}","body":"From the backend","priority":"high"}}'`;
    byId('notify-help').hidden = false;
  }
}
