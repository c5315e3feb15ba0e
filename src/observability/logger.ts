import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stdout. Message contents are never logged: ids, channels and sizes only. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'switchboard' }, timestamp: pino.stdTimeFunctions.isoTime });
}
