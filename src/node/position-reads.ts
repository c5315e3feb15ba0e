/**
 * Subscribers' position reads of one channel, batched. A subscribe reads its channel's top position after it
 * registered for live publications (session.ts prepareSubscription); when many connections subscribe to one
 * channel at once (a broadcast channel everyone joins), each read is a broker round trip (on Redis a script and a
 * barrier PING) for the same answer. Here a read asked for while another of the channel is in flight waits for that
 * one to end and is then made once for everyone who asked meanwhile: at most one in flight and one waiting per
 * channel.
 *
 * Never joined to a read already in flight: that read may have been answered before the later subscriber registered,
 * and a publication in between would be neither in its position nor delivered to it live (a gap). A read issued
 * after every waiter registered gives each a position at or after its registration, as its own read would.
 */
export class PositionReads<T> {
  private readonly channels = new Map<string, { next?: Waiting<T> }>();

  /** `issue` reads the channel's position; the result is shared by the batch (do not mutate it). */
  read(channel: string, issue: () => Promise<T>): Promise<T> {
    const entry = this.channels.get(channel);
    if (entry === undefined) {
      const e: { next?: Waiting<T> } = {};
      this.channels.set(channel, e);
      return this.run(channel, e, issue);
    }
    if (entry.next === undefined) {
      let resolve!: (v: T) => void;
      let reject!: (e: unknown) => void;
      const promise = new Promise<T>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      entry.next = { promise, resolve, reject, issue };
    }
    return entry.next.promise;
  }

  /** Channels with a read in flight (for tests). */
  get inFlight(): number {
    return this.channels.size;
  }

  private run(channel: string, e: { next?: Waiting<T> }, issue: () => Promise<T>): Promise<T> {
    let p: Promise<T>;
    try {
      p = issue();
    } catch (err) {
      p = Promise.reject(err);
    }
    const done = (): void => {
      const w = e.next;
      if (w === undefined) {
        this.channels.delete(channel);
        return;
      }
      e.next = undefined;
      this.run(channel, e, w.issue).then(w.resolve, w.reject);
    };
    p.then(done, done);
    return p;
  }
}

interface Waiting<T> {
  readonly promise: Promise<T>;
  readonly resolve: (v: T) => void;
  readonly reject: (e: unknown) => void;
  readonly issue: () => Promise<T>;
}
