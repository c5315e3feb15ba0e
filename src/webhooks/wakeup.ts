/**
 * The senders waiting for "events may be readable" (WebhookQueue.waitForEvents): each wait ends when the queue wakes
 * every waiter (an event was queued, or it closes) or after `pollMs` (ms), whichever comes first.
 */
export class Wakeup {
  private waiters: (() => void)[] = [];

  constructor(private readonly pollMs: number) {}

  wait(): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, this.pollMs);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  wakeAll(): void {
    const w = this.waiters;
    if (w.length === 0) return;
    this.waiters = [];
    for (const wake of w) wake();
  }
}
