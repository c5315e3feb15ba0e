/**
 * Which received publications get a client receive span (beyond the carried sampled flag, checked by the caller):
 * a ratio decided by the trace id, so every client receiving the same publication decides alike and a kept trace has
 * all its receive spans, and a per-second cap so a busy page stays readable and cheap.
 */
import { OptionError } from './errors.js';

export class ReceiveSampler {
  private second = -1;
  private count = 0;

  /**
   * @param rate 0..1: share of publications traced (1: all, 0: none).
   * @param maxPerSecond receive spans started per wall-clock second at most; 0: no cap.
   */
  constructor(readonly rate: number, readonly maxPerSecond: number) {
    if (typeof rate !== 'number' || !(rate >= 0 && rate <= 1)) throw new OptionError('receiveSampleRate', 'must be a number from 0 to 1');
    if (typeof maxPerSecond !== 'number' || !Number.isInteger(maxPerSecond) || maxPerSecond < 0) {
      throw new OptionError('maxReceiveSpansPerSecond', 'must be an integer >= 0 (0: no cap)');
    }
  }

  /** `traceId`: 32 hex digits, or undefined (a publication without trace context: decided at random). */
  take(traceId: string | undefined, now = Date.now()): boolean {
    if (this.rate === 0) return false;
    if (this.rate < 1) {
      // W3C trace ids are random in their rightmost 7 bytes: their last 8 hex digits are a uniform 32-bit number.
      const x = traceId ? parseInt(traceId.slice(-8), 16) / 2 ** 32 : Math.random();
      if (x >= this.rate) return false;
    }
    if (this.maxPerSecond === 0) return true;
    const second = Math.floor(now / 1000);
    if (second !== this.second) {
      this.second = second;
      this.count = 0;
    }
    if (this.count >= this.maxPerSecond) return false;
    this.count++;
    return true;
  }
}
