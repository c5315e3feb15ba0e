/**
 * The demo page served at `/`: asks for a name (development mode: the server takes `?user=`) or a pasted token
 * (JWT mode), then runs the chat room, the notifications and the live stream on one SDK client. `?user=alice`
 * (development mode) joins at once; `?room=` and `?stream=ws|sse|eventsource` choose the room and the stream's transport.
 */
import { createClient, type Client } from '../../src/client/index.js';
import { ChatRoom } from './chat.js';
import { byId, errorText } from './dom.js';
import { Notifications } from './notifications.js';
import type { DemoPageConfig } from '../../src/demo/page-config.js';
import { trackClient } from './status.js';
import { LiveStream, STREAM_MODES, type StreamMode } from './stream.js';

interface Identity {
  user?: string;
  token?: string;
}

const USER = /^[A-Za-z0-9_.-]{1,32}$/;
const ROOM = /^[a-z0-9_-]{1,32}$/;

/** What tests and curious visitors can reach from the console. */
declare global {
  interface Window {
    demo?: { client: Client; chat: ChatRoom; stream: LiveStream; config: DemoPageConfig };
  }
}

async function main(): Promise<void> {
  const res = await fetch('/demo/config.json');
  if (!res.ok) throw new Error(`GET /demo/config.json: ${res.status}`);
  const cfg = (await res.json()) as DemoPageConfig;
  byId('version').textContent = `v${cfg.version}`;
  byId('ws-path').textContent = cfg.websocket;
  byId('sse-path').textContent = cfg.sse;

  const q = new URLSearchParams(location.search);
  const room = (q.get('room') ?? 'lobby').toLowerCase();
  const mode = (STREAM_MODES as readonly string[]).includes(q.get('stream') ?? '') ? (q.get('stream') as StreamMode) : 'sse';
  const form = byId<HTMLFormElement>('join-form');
  const field = (name: string) => form.elements.namedItem(name) as HTMLInputElement;
  const jwt = cfg.auth === 'jwt';
  byId('name-field').hidden = jwt;
  byId('token-field').hidden = !jwt;
  field('user').required = !jwt;
  field('token').required = jwt;
  field('user').value = q.get('user') ?? localStorage.getItem('switchboard-demo-user') ?? '';
  field('token').value = sessionStorage.getItem('switchboard-demo-token') ?? '';
  if (ROOM.test(room)) field('room').value = room;

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const r = field('room').value.trim().toLowerCase();
    const identity: Identity = jwt ? { token: field('token').value.trim() } : { user: field('user').value.trim() };
    const problem = !ROOM.test(r) ? 'Room: 1–32 lowercase letters, digits, _ or -.' : !jwt && !USER.test(identity.user!) ? 'Name: 1–32 letters, digits, _ . or -.' : '';
    if (problem) return showJoinError(problem);
    if (jwt) sessionStorage.setItem('switchboard-demo-token', identity.token!);
    else localStorage.setItem('switchboard-demo-user', identity.user!);
    // Put the choice in the address, so a reload (or a bookmark) comes back to the same room.
    const url = new URL(location.href);
    if (!jwt) url.searchParams.set('user', identity.user!);
    url.searchParams.set('room', r);
    history.replaceState(null, '', url);
    join(cfg, identity, r, mode);
  });
  if (!jwt && q.get('user') && USER.test(q.get('user')!) && ROOM.test(room)) join(cfg, { user: q.get('user')! }, room, mode);
}

function join(cfg: DemoPageConfig, identity: Identity, room: string, mode: StreamMode): void {
  byId('join').hidden = true;
  byId('app').hidden = false;
  const client = createClient({
    url: new URL(cfg.websocket, location.href).href,
    ...(identity.token ? { token: identity.token } : { params: { user: identity.user! } }),
  });
  trackClient(client);
  let me = identity.user ?? '';
  const who = byId('who');
  const showMe = () => {
    byId('me').textContent = me;
    who.hidden = me === '';
  };
  showMe();
  client.on('connected', (c) => {
    me = c.user;
    showMe();
  });
  client.on('error', ({ error, channel }) => console.warn('switchboard', channel ?? '', error.code, error.message));
  byId('leave').addEventListener('click', () => {
    client.disconnect();
    location.assign('/');
  });

  const chat = new ChatRoom(client, room, () => me);
  new Notifications(client, () => me, cfg.notify);
  const stream = new LiveStream({ client, channel: cfg.stream.channel, ssePath: cfg.sse, identity });
  describeStream(cfg);
  chat.start();
  stream.use(mode);
  client.connect();
  window.demo = { client, chat, stream, config: cfg };
}

/** What the stream panel says before the first update. */
function describeStream(cfg: DemoPageConfig): void {
  const el = byId('stream-empty');
  if (cfg.stream.producer) {
    el.textContent = `Waiting for the demo producer (one update every ${cfg.stream.intervalMs / 1000} s on "${cfg.stream.channel}")…`;
    return;
  }
  const p = document.createElement('p');
  p.textContent = `The demo producer is off: start the server with --demo.producer, or publish to "${cfg.stream.channel}" yourself:`;
  const pre = document.createElement('pre');
  pre.textContent =
    `curl -s ${location.origin}/api/publish -H 'content-type: application/json' \\\n` +
    `  -d '{"channel":"${cfg.stream.channel}","event":"data_update","data":{"temperature":21.5,"humidity":48,"cpu":12,"timestamp":${Math.floor(Date.now() / 1000)}}}'`;
  el.replaceChildren(p, pre);
}

function showJoinError(text: string): void {
  const el = byId('join-error');
  el.textContent = text;
  el.hidden = false;
}

main().catch((err: unknown) => {
  showJoinError(`The demo could not start: ${errorText(err)}`);
});
