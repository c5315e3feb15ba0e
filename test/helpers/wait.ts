/** Bounded waiting: every wait in the integration tests ends, by success or by a timeout error that says what it waited for. */
import { setTimeout as sleepMs } from 'node:timers/promises';

export const sleep = (ms: number): Promise<void> => sleepMs(ms).then(() => undefined);

/** Rejects with `label` if `p` has not settled within `ms`. The timer never keeps the process alive. */
export function withTimeout<T>(p: Promise<T>, ms: number, label: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${label}`)), ms);
    timer.unref();
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err as Error);
      },
    );
  });
}

/**
 * Polls `check` (every `interval` ms, default 5) until it returns something other than undefined/false/null, and
 * resolves with that. Rejects after `timeout` ms (default 3000) with `label` and, if given, `describe()` of the state.
 */
export async function waitFor<T>(
  check: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  opts: { timeout?: number; interval?: number; label?: string; describe?: () => string } = {},
): Promise<T> {
  const timeout = opts.timeout ?? 3000;
  const interval = opts.interval ?? 5;
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${opts.label ?? 'condition'}${opts.describe ? `; state: ${opts.describe()}` : ''}`);
    }
    await sleep(interval);
  }
}

/** Anything a test opened and must close. */
export interface Closable {
  close(): unknown;
}

/** A LIFO list of things to close at the end of a test (clients before the server they talk to). */
export class Cleanup {
  private readonly items: Closable[] = [];
  add<T extends Closable>(c: T): T {
    this.items.push(c);
    return c;
  }
  async run(): Promise<void> {
    const errors: unknown[] = [];
    while (this.items.length > 0) {
      const c = this.items.pop()!;
      try {
        await withTimeout(Promise.resolve(c.close()), 10_000, 'cleanup close()');
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw errors[0];
  }
}
