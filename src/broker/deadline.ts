/**
 * Deadlines that hold after a request was sent. node-redis drops its own command timeout once a command is written to
 * the socket, so a Redis that stops answering (frozen, or a connection black-holed without a FIN) would keep a written
 * command waiting forever. The broker races each call against its own timer instead.
 */

/**
 * Settles like `p`, unless `ms` pass first: then rejects with the error `onExpire` returns (called once, at expiry).
 * `p` settling later is ignored (and never an unhandled rejection).
 */
export function withDeadline<T>(p: Promise<T>, ms: number, onExpire: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onExpire()), ms);
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
