/** Captures a server's pino output in memory: parsed lines for assertions, raw text to check what never appears. */
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

export type LogLine = Record<string, any>;

export interface LogCapture {
  readonly lines: LogLine[];
  readonly raw: string[];
  readonly logger: Logger;
}

export function captureLogs(level = 'info'): LogCapture {
  const lines: LogLine[] = [];
  const raw: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const text of chunk.toString('utf8').split('\n')) {
        if (!text) continue;
        raw.push(text);
        lines.push(JSON.parse(text) as LogLine);
      }
      cb();
    },
  });
  return { lines, raw, logger: pino({ level }, sink) };
}
