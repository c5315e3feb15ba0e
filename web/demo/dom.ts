/** Tiny DOM helpers: the demo is plain DOM, no framework. */

type Attrs = Record<string, string | number | boolean | undefined | ((e: Event) => void)>;
type Child = Node | string | null | undefined | false;

/** `h('li', { class: 'msg', onclick: f }, 'text', child)`: an element; `on*` attributes become listeners. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

/** The element with this id; throws if the page lacks it (a bug in index.html, not a runtime condition). */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing from index.html`);
  return el as T;
}

/** `12:03:07` in the visitor's locale. */
export function clock(t: string | number | Date): string {
  return new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** A stable hue (0-359) for a user name: the same user has the same avatar colour on every page. */
export function hue(name: string): number {
  let x = 0;
  for (let i = 0; i < name.length; i++) x = (x * 31 + name.charCodeAt(i)) >>> 0;
  return x % 360;
}

export function avatar(name: string): HTMLElement {
  const el = h('span', { class: 'avatar', 'aria-hidden': 'true' }, (name[0] ?? '?').toUpperCase());
  el.style.setProperty('--hue', String(hue(name)));
  return el;
}

/** Message of anything thrown, with the SDK's stable code first when there is one. */
export function errorText(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return e && e.code ? `${e.code}: ${e.message ?? ''}` : String(e?.message ?? err);
}

/** A random id (crypto.randomUUID needs a secure context; getRandomValues does not, so plain-http LAN demos work). */
export function newId(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, '0')).join('');
}
