/**
 * A small typed event emitter (no Node `events`, so it runs in browsers). `Events` maps each event name to the
 * argument its listeners receive. Listeners run synchronously in registration order; a listener that throws breaks
 * that emit like a Node EventEmitter would, so keep listeners from throwing.
 */
export type Listener<T> = (arg: T) => void;

export class Emitter<Events extends object> {
  private readonly listeners = new Map<keyof Events, Listener<any>[]>();

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    const list = this.listeners.get(event);
    if (list) list.push(listener);
    else this.listeners.set(event, [listener]);
    return () => this.off(event, listener);
  }

  /** Adds a listener that runs at most once. */
  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    const off = this.on(event, (arg) => {
      off();
      listener(arg);
    });
    return off;
  }

  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    const list = this.listeners.get(event);
    if (!list) return;
    const i = list.indexOf(listener);
    if (i >= 0) list.splice(i, 1);
  }

  /** Whether anyone listens; lets callers skip building an event nobody reads. */
  protected listening(event: keyof Events): boolean {
    return (this.listeners.get(event)?.length ?? 0) > 0;
  }

  /**
   * Resolves at the next `ok` event. A `failOn` event rejects with what `fail` returns for it (undefined: keep
   * waiting); after `timeoutMs` it rejects with `timeout()`. Listeners and the timer are removed either way.
   */
  protected waitFor<K extends keyof Events, F extends keyof Events>(
    ok: K, failOn: F, fail: (arg: Events[F]) => Error | undefined, timeoutMs: number, timeout: () => Error,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        offOk();
        offFail();
        if (err) reject(err);
        else resolve();
      };
      const timer = setTimeout(() => done(timeout()), timeoutMs);
      const offOk = this.on(ok, () => done());
      const offFail = this.on(failOn, (arg) => {
        const err = fail(arg);
        if (err) done(err);
      });
    });
  }

  protected emit<K extends keyof Events>(event: K, arg: Events[K]): void {
    const list = this.listeners.get(event);
    if (!list || list.length === 0) return;
    // A copy: a listener may remove itself (once) or others while we iterate.
    for (const l of list.slice()) l(arg);
  }
}
