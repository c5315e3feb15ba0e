/**
 * Deadlines that hold after a request was sent. node-redis drops its own command timeout once a command is written to
 * the socket, so a Redis that stops answering (frozen, or a connection black-holed without a FIN) would keep a written
 * command waiting forever. The broker races each call against its own timer instead.
 *
 * A deadline measures Redis's silence, not this process's own stalls. When the event loop was blocked (a broadcast to
 * many sockets, a GC pause, a starved machine), the timer fires late, and Node runs timers before it reads sockets: a
 * reply that arrived in time would still be sitting unread in the socket when the timer fired. So the verdict waits
 * one I/O turn (setImmediate runs after the poll phase) and a timer that fired more than `STALL_MS` late is re-armed
 * for the time it lost (at most `MAX_EXTENSIONS` times, so a process that is always behind still gives up).
 */

/** A timer this late means the loop itself was blocked. */
export const STALL_MS = 100;
/** Re-arms after stalls, each for at most the deadline itself: a deadline never stretches past 3× its length. */
export const MAX_EXTENSIONS = 2;

/**
 * Settles like `p`, unless `ms` pass first: then rejects with the error `onExpire` returns (called once, at expiry).
 * `p` settling later is ignored (and never an unhandled rejection).
 */
export function withDeadline<T>(p: Promise<T>, ms: number, onExpire: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let due = performance.now() + ms;
    let extensions = 0;
    const expire = () => {
      const now = performance.now();
      const lost = now - due;
      if (lost > STALL_MS && extensions < MAX_EXTENSIONS) {
        extensions++;
        const extra = Math.min(lost, ms);
        due = now + extra;
        timer = setTimeout(expire, extra);
        return;
      }
      // A reply already in the socket is read (and settles `p`) before this runs.
      setImmediate(() => {
        if (settled) return;
        settled = true;
        reject(onExpire());
      });
    };
    let timer = setTimeout(expire, ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        if (settled) return;
        settled = true;
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        if (settled) return;
        settled = true;
        reject(err as Error);
      },
    );
  });
}
