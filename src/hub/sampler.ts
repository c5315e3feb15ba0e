import type { Subscriber } from './subscriber.js';

/**
 * Sampled delivery tracing as the hub sees it. The hub reports every `stride`-th recipient of a publication (from a
 * random start), at most `max` of them (0: no limit), right after delivering to it, so a trace shows some real writes
 * without one span per delivery. Implemented in observability/ (write spans); the hub never knows the tracer.
 */
export interface DeliverySampler {
  /** Report every k-th recipient; 0 reports none. */
  readonly stride: number;
  /** Most recipients reported per publication; 0 for no limit. */
  readonly max: number;
  /** `subscriber` was just handed the publication, whose JSON text is `size` UTF-16 code units long. */
  sampled(subscriber: Subscriber, size: number): void;
}
