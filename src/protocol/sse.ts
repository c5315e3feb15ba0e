/**
 * Server-Sent Events encoding (WHATWG HTML, "server-sent events"). Pure string building; transports turn the result
 * into bytes once and share them.
 */

/** Splits on CRLF, CR and LF alike: a parser treats all three as line ends, so each becomes its own `data:` line. */
const LINE_BREAK = /\r\n|\r|\n/;

export interface SseEvent {
  event?: string;
  id?: string;
  data?: string;
  retry?: number;
}

/** Encodes one event, ending with the blank line that dispatches it. */
export function encodeSseEvent(e: SseEvent): string {
  let s = '';
  if (e.retry !== undefined) s += 'retry: ' + Math.max(0, Math.floor(e.retry)) + '\n';
  if (e.event !== undefined) s += 'event: ' + singleLine(e.event) + '\n';
  if (e.data !== undefined) {
    for (const line of e.data.split(LINE_BREAK)) s += 'data: ' + line + '\n';
  }
  // The id comes last so a shared prefix (event + data) can be followed by a per-stream id.
  if (e.id !== undefined) s += 'id: ' + singleLine(e.id) + '\n';
  return s + '\n';
}

/** Prefix of an event without its terminating blank line, for callers that append `id:` per stream. */
export function encodeSseEventHead(event: string, data: string): string {
  let s = 'event: ' + singleLine(event) + '\n';
  for (const line of data.split(LINE_BREAK)) s += 'data: ' + line + '\n';
  return s;
}

/** A comment line: ignored by parsers, keeps proxies and load balancers from timing the stream out. */
export function encodeSseComment(text: string): string {
  return ': ' + singleLine(text) + '\n\n';
}

/** Field values cannot hold line breaks, and an id cannot hold NUL (the spec ignores such ids). */
function singleLine(v: string): string {
  return /[\r\n\0]/.test(v) ? v.replace(/[\r\n\0]/g, ' ') : v;
}
