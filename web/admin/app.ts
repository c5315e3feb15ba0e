/**
 * The admin console (served at /admin, src/admin/console.ts): sign-in, then three tabs. Plain DOM, no framework;
 * everything comes from this origin (strict CSP, no inline code).
 */
import { byId } from '../demo/dom.js';
import { ApiError, call, setCsrf } from './api.js';
import { Channels, messageOf } from './channels.js';
import { Overview } from './overview.js';
import { Users } from './users.js';

interface SessionInfo { operator: { name: string; via: string }; csrf: string }

const status = (state: string, label: string) => {
  const el = byId('stream-status');
  el.dataset.state = state;
  el.querySelector('.label')!.textContent = label;
};
const overview = new Overview(status);
const channels = new Channels();
const users = new Users();

function showTab(tab: string): void {
  for (const b of document.querySelectorAll<HTMLButtonElement>('[data-tab]')) b.setAttribute('aria-selected', String(b.dataset.tab === tab));
  for (const s of document.querySelectorAll<HTMLElement>('.tab')) s.hidden = s.id !== `tab-${tab}`;
  const load = tab === 'channels' ? channels.refresh() : tab === 'users' ? users.refresh() : Promise.resolve(overview.redraw());
  load.catch((err: unknown) => console.warn(messageOf(err)));
}

function signedIn(s: SessionInfo): void {
  setCsrf(s.csrf);
  byId('signin').hidden = true;
  byId('console').hidden = false;
  byId('who').hidden = false;
  byId('operator').textContent = s.operator.name;
  overview.start();
  showTab('overview');
}

function signedOut(secretNeeded: boolean): void {
  overview.stop();
  channels.stop();
  status('idle', 'Signed out');
  byId('console').hidden = true;
  byId('who').hidden = true;
  byId('signin').hidden = false;
  byId('secret-field').hidden = !secretNeeded;
}

async function boot(): Promise<void> {
  const res = await fetch('/admin/session', { credentials: 'same-origin' });
  const body = (await res.json()) as SessionInfo & { signIn?: { secret: boolean } };
  if (res.ok) signedIn(body);
  else signedOut(body.signIn?.secret ?? true);
}

byId<HTMLFormElement>('signin-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const form = e.currentTarget as HTMLFormElement;
  const name = (form.elements.namedItem('name') as HTMLInputElement).value.trim();
  const secret = (form.elements.namedItem('secret') as HTMLInputElement).value;
  const error = byId('signin-error');
  fetch('/admin/sign-in', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, secret }), credentials: 'same-origin' })
    .then(async (res) => {
      const body = (await res.json()) as SessionInfo & { error?: { message: string } };
      if (!res.ok) throw new ApiError(res.status, 'sign_in', body.error?.message ?? `HTTP ${res.status}`);
      error.hidden = true;
      (form.elements.namedItem('secret') as HTMLInputElement).value = '';
      signedIn(body);
    })
    .catch((err: unknown) => {
      error.hidden = false;
      error.textContent = err instanceof Error ? err.message : String(err);
    });
});

byId('signout').addEventListener('click', () => {
  void call('POST', '/admin/sign-out').finally(() => void boot());
});

for (const b of document.querySelectorAll<HTMLButtonElement>('[data-tab]')) b.addEventListener('click', () => showTab(b.dataset.tab!));
window.addEventListener('resize', () => overview.redraw());

void boot();
