/**
 * Human-readable logs for `switchboard serve` on a terminal: pino's JSON lines turned into
 * `12:04:05 INFO  message  key=value ...`, colored when the output is a TTY. A few lines of our own instead of
 * pino-pretty (and its dependency tree) for a format this simple; JSON stays the format everywhere else.
 */
import type { DestinationStream } from 'pino';

const LEVELS: Record<number, [string, string]> = {
  10: ['TRACE', '\x1b[90m'], 20: ['DEBUG', '\x1b[36m'], 30: ['INFO ', '\x1b[32m'],
  40: ['WARN ', '\x1b[33m'], 50: ['ERROR', '\x1b[31m'], 60: ['FATAL', '\x1b[35m'],
};
/** Fields every entry has (shown in the line's own layout, or not at all). */
const SKIP = new Set(['level', 'time', 'msg', 'service', 'pid', 'hostname']);

export interface PrettyOptions {
  color: boolean;
  /** Entries with this msg are not printed (the CLI prints its own start line instead of "switchboard listening"). */
  hide?: ReadonlySet<string>;
}

export function prettyDestination(out: { write(s: string): unknown }, options: PrettyOptions): DestinationStream {
  return { write: (line: string) => void out.write(formatLine(line, options)) };
}

/** One pino JSON line (with its newline) as text; anything that is not a JSON object passes through unchanged. */
export function formatLine(line: string, { color, hide }: PrettyOptions): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  if (typeof entry !== 'object' || entry === null) return line;
  const msg = typeof entry.msg === 'string' ? entry.msg : '';
  if (hide?.has(msg)) return '';
  const [name, tint] = LEVELS[entry.level as number] ?? [String(entry.level).padEnd(5), ''];
  const time = typeof entry.time === 'string' ? entry.time.slice(11, 19) : new Date().toISOString().slice(11, 19); // HH:MM:SS (UTC)
  const fields = Object.entries(entry).filter(([k]) => !SKIP.has(k)).map(([k, v]) => `${k}=${field(v)}`).join(' ');
  const paint = (s: string, c: string) => (color && c ? `${c}${s}\x1b[0m` : s);
  return `${paint(time, '\x1b[90m')} ${paint(name, tint)} ${msg}${fields ? `  ${paint(fields, '\x1b[90m')}` : ''}\n`;
}

function field(v: unknown): string {
  if (typeof v === 'string') return /[\s"=]/.test(v) || v === '' ? JSON.stringify(v) : v;
  if (typeof v === 'object' && v !== null && 'stack' in v && typeof (v as { stack: unknown }).stack === 'string') {
    return `\n${(v as { stack: string }).stack}`; // pino's serialized errors: the stack reads better as lines
  }
  return JSON.stringify(v) ?? String(v);
}
