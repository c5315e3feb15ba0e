/**
 * An incremental `text/event-stream` parser (WHATWG HTML, "Parsing an event stream"): feed it decoded text in any
 * chunking; it calls back once per dispatched event and per `retry:` field. Lines end in CRLF, CR or LF, including a
 * CRLF split across two chunks. A line longer than `maxLine` characters is an error (a stream gone wrong, not data).
 */
export interface SseParserHandlers {
  event(type: string, data: string, id: string | undefined): void;
  retry(ms: number): void;
}

export class SseLineTooLongError extends Error {
  override name = 'SseLineTooLongError';
}

export class SseParser {
  private rest = '';
  private data = '';
  private hasData = false;
  private type = '';
  private id: string | undefined;
  /** The previous chunk ended in CR: a leading LF in the next one belongs to it. */
  private pendingCR = false;
  private started = false;

  /** `maxLine`: longest line in characters (default 8 MiB; Switchboard's frames are at most 1 MiB). */
  constructor(
    private readonly on: SseParserHandlers,
    private readonly maxLine = 8 * 1024 * 1024,
  ) {}

  push(chunk: string): void {
    if (chunk.length === 0) return;
    if (!this.started) {
      this.started = true;
      if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
    }
    let i = 0;
    if (this.pendingCR) {
      this.pendingCR = false;
      if (chunk.charCodeAt(0) === 10) i = 1;
    }
    const s = this.rest.length > 0 ? this.rest + chunk.slice(i) : chunk;
    if (this.rest.length > 0) i = 0;
    this.rest = '';
    let start = i;
    for (; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.line(s.slice(start, i));
      if (c === 13) {
        if (i + 1 === s.length) this.pendingCR = true;
        else if (s.charCodeAt(i + 1) === 10) i++;
      }
      start = i + 1;
    }
    this.rest = s.slice(start);
    if (this.rest.length > this.maxLine) {
      this.rest = '';
      throw new SseLineTooLongError(`event stream line longer than ${this.maxLine} characters`);
    }
  }

  private line(l: string): void {
    if (l.length === 0) return this.dispatch();
    if (l.charCodeAt(0) === 58) return; // ':' comment (heartbeat)
    const colon = l.indexOf(':');
    const field = colon < 0 ? l : l.slice(0, colon);
    let value = colon < 0 ? '' : l.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case 'event':
        this.type = value;
        return;
      case 'data':
        this.data = this.hasData ? this.data + '\n' + value : value;
        this.hasData = true;
        return;
      case 'id':
        if (!value.includes('\0')) this.id = value;
        return;
      case 'retry':
        if (/^\d+$/.test(value)) this.on.retry(Number(value));
        return;
    }
  }

  private dispatch(): void {
    const { type, data, hasData, id } = this;
    this.type = '';
    this.data = '';
    this.hasData = false;
    this.id = undefined;
    if (hasData) this.on.event(type || 'message', data, id);
  }
}
