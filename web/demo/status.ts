/** The connection indicator in the header, driven by the SDK client's events. */
import type { Client } from '../../src/client/index.js';
import { byId } from './dom.js';

export type LinkState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'disconnected';

/** Shows `state` with a label on a status pill (`data-state` drives its colour, and tests read it). */
export function showState(el: HTMLElement, state: LinkState, label: string): void {
  el.dataset.state = state;
  el.querySelector('.label')!.textContent = label;
  el.title = label;
}

export function trackClient(client: Client): void {
  const el = byId('status');
  client.on('connecting', ({ attempt, delay }) =>
    showState(el, attempt === 0 ? 'connecting' : 'reconnecting', attempt === 0 ? 'Connecting…' : `Reconnecting… (attempt ${attempt}, waited ${(delay / 1000).toFixed(1)} s)`),
  );
  client.on('connected', (c) => showState(el, 'connected', `Connected as ${c.user}`));
  client.on('disconnected', (d) => {
    if (d.reconnect) showState(el, 'reconnecting', `Connection lost (${d.code}); reconnecting…`);
    else showState(el, 'disconnected', `Disconnected: ${d.reason || d.code}`);
  });
}
