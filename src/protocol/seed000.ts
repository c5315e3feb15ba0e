/**
 * The seed 000 publication shape (docs/protocol.md "Seed 000"), a wire encoding like the native one: kept in the
 * protocol layer so every reader of a seed 000 chat, the session's dialect adapter and the server API's history
 * alike, encodes it the same way without the API importing session code.
 */
import { publicationJson } from './frames.js';
import type { ServerPublication } from './frames.js';

/**
 * Seed 000 clients read a chat as `action` and `data`. Rather than a flag stored with the publication, the shape
 * follows from what the publication is: event `chat` on `compat.seed000Channel`. Every reader of such a chat (seed
 * 000, native, SSE, history) gets `action` (the event) and `data` (the payload) after the native fields.
 */
export function isSeed000Chat(p: ServerPublication, seed000Channel: string): boolean {
  return p.event === 'chat' && p.channel === seed000Channel;
}

/** The publication push JSON of a seed 000 chat: the native one plus `action` and `data`. */
export function seed000ChatJson(p: ServerPublication): string {
  const json = publicationJson(p);
  return json.slice(0, -1) + ',"action":' + JSON.stringify(p.event) + ',"data":' + p.data + '}';
}

/** Publication JSON for a history read of `channel`: seed 000 chats in their shape when it is the seed 000 channel. */
export function publicationJsonIn(channel: string, seed000Channel: string): (p: ServerPublication) => string {
  if (channel !== seed000Channel) return publicationJson;
  return (p) => (p.event === 'chat' ? seed000ChatJson(p) : publicationJson(p));
}
