/**
 * The chat room (seed 002 `chat_message`): a channel `demo.chat.<room>` with history on join, presence, and resume
 * after reconnects. Messages are ordered by stream position and de-duplicated by it, so the history read on join and
 * the live publications can overlap. When the server cannot replay what was missed (a restart of a memory broker),
 * the SDK says so (`recoveryFailed`) and the room reloads its history under a visible notice.
 */
import type { Client, Member, Publication, Subscription } from '../../src/client/index.js';
import { avatar, byId, clock, errorText, h, newId } from './dom.js';

/** Seed 002's chat payload, plus a client-made id. */
export interface ChatMessage {
  room_id: string;
  user_id: string;
  content: string;
  id?: string;
}

/** Messages read on join. */
const HISTORY_LIMIT = 50;
/** Presence is re-read this often (ms): join/leave pushes are off by default (`channel.joinLeave`). */
const PRESENCE_POLL_MS = 2000;
/** Longest message (characters). */
export const MAX_CONTENT = 500;

interface Entry {
  key: string;
  rank: number;
  offset: number;
  el: HTMLElement;
}

export class ChatRoom {
  readonly channel: string;
  private readonly sub: Subscription;
  private readonly list = byId<HTMLOListElement>('messages');
  private readonly entries: Entry[] = [];
  private readonly seen = new Set<string>();
  /** Epochs in the order first seen: a new epoch (server restarted without history) sorts after the old one. */
  private readonly epochs = new Map<string, number>();
  private presenceTimer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly client: Client,
    readonly room: string,
    private readonly me: () => string,
  ) {
    this.channel = `demo.chat.${room}`;
    byId('room-name').textContent = `# ${room}`;
    this.sub = client.newSubscription(this.channel);
    this.sub.on('publication', (p) => this.onPublication(p));
    this.sub.on('subscribed', (s) => {
      if (!s.wasRecovering) void this.loadHistory();
      else if (s.recovered && s.missed > 0) this.notice(`Back online: ${s.missed} missed message${s.missed === 1 ? '' : 's'} delivered.`);
      void this.refreshPresence();
    });
    this.sub.on('recoveryFailed', (r) => {
      this.notice(`The server could not replay what was missed (${r.reason}): its history was lost, probably in a restart. Reloading the room.`, 'warn');
      void this.loadHistory();
    });
    this.sub.on('join', () => void this.refreshPresence());
    this.sub.on('leave', () => void this.refreshPresence());
    this.sub.on('error', ({ error }) => this.notice(`Room unavailable: ${errorText(error)}`, 'warn'));
    client.on('disconnected', () => this.renderPresence(undefined));

    const form = byId<HTMLFormElement>('chat-form');
    const input = byId<HTMLInputElement>('chat-input');
    input.maxLength = MAX_CONTENT;
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const content = input.value.trim();
      if (!content) return;
      input.value = '';
      void this.send(content, input);
    });
  }

  start(): void {
    this.sub.subscribe();
    this.presenceTimer = setInterval(() => {
      if (this.sub.state === 'subscribed') void this.refreshPresence();
    }, PRESENCE_POLL_MS);
  }

  stop(): void {
    clearInterval(this.presenceTimer);
    this.client.removeSubscription(this.sub);
  }

  private async send(content: string, input: HTMLInputElement): Promise<void> {
    const msg: ChatMessage = { room_id: this.room, user_id: this.me(), content, id: newId() };
    try {
      await this.sub.publish(msg, { event: 'chat_message' });
    } catch (err) {
      // Not delivered (or unknown: connection_lost): give the text back rather than lose it.
      if (!input.value) input.value = content;
      this.notice(`Not sent: ${errorText(err)}`, 'warn');
    }
  }

  private async loadHistory(): Promise<void> {
    try {
      const h = await this.sub.history<ChatMessage>({ limit: HISTORY_LIMIT, reverse: true });
      for (const p of h.publications.slice().reverse()) this.onPublication(p);
      if (h.publications.length === 0 && this.entries.length === 0) this.notice('No messages yet. Say hello!');
    } catch (err) {
      this.notice(`Could not read the history: ${errorText(err)}`, 'warn');
    }
  }

  private onPublication(p: Publication): void {
    if (p.event !== 'chat_message') return;
    const key = `${p.epoch}:${p.offset}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    if (!this.epochs.has(p.epoch)) this.epochs.set(p.epoch, this.epochs.size);
    const m = p.data as ChatMessage;
    const user = typeof m?.user_id === 'string' ? m.user_id : '?';
    const mine = user === this.me();
    const el = h(
      'li',
      { class: mine ? 'msg mine' : 'msg', 'data-offset': p.offset, 'data-user': user },
      avatar(user),
      h('div', { class: 'bubble' },
        h('div', { class: 'meta' }, h('strong', {}, user), h('time', { datetime: p.timestamp }, clock(p.timestamp))),
        h('div', { class: 'text' }, typeof m?.content === 'string' ? m.content.slice(0, MAX_CONTENT) : JSON.stringify(p.data))),
    );
    this.insert({ key, rank: this.epochs.get(p.epoch)!, offset: p.offset, el });
  }

  /** Keeps the list in (epoch rank, offset) order; new messages almost always go last, so scan from the end. */
  private insert(e: Entry): void {
    let i = this.entries.length;
    while (i > 0 && (this.entries[i - 1]!.rank > e.rank || (this.entries[i - 1]!.rank === e.rank && this.entries[i - 1]!.offset > e.offset))) i--;
    const next = this.entries[i]?.el ?? null;
    this.entries.splice(i, 0, e);
    this.list.querySelector('.empty')?.remove();
    const atBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    this.list.insertBefore(e.el, next);
    if (atBottom || next === null) this.list.scrollTop = this.list.scrollHeight;
  }

  /** A system line in the chat (not a message: it has no position). */
  private notice(text: string, kind: 'info' | 'warn' = 'info'): void {
    const el = h('li', { class: `notice ${kind}${text.startsWith('No messages') ? ' empty' : ''}` }, text);
    this.list.append(el);
    this.list.scrollTop = this.list.scrollHeight;
  }

  private async refreshPresence(): Promise<void> {
    try {
      this.renderPresence(await this.sub.presence());
    } catch {
      /* not connected right now: the next poll or reconnect refreshes it */
    }
  }

  private renderPresence(members: Member[] | undefined): void {
    const ul = byId<HTMLUListElement>('presence');
    const count = byId('presence-count');
    if (!members) {
      ul.replaceChildren(h('li', { class: 'muted' }, 'offline'));
      count.textContent = '–';
      return;
    }
    const byUser = new Map<string, number>();
    for (const m of members) byUser.set(m.user, (byUser.get(m.user) ?? 0) + 1);
    const users = [...byUser.keys()].sort((a, b) => (a === this.me() ? -1 : b === this.me() ? 1 : a.localeCompare(b)));
    ul.replaceChildren(
      ...users.map((u) =>
        h('li', { 'data-user': u }, avatar(u), h('span', { class: 'name' }, u === this.me() ? `${u} (you)` : u),
          byUser.get(u)! > 1 ? h('span', { class: 'tabs', title: 'connections' }, `×${byUser.get(u)}`) : null),
      ),
    );
    count.textContent = String(users.length);
  }
}
