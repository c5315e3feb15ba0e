/**
 * The built-in demo producer (`demo.producer`, off by default): every `demo.producerInterval` it publishes seed
 * 002's `data_update` event — a few fake metrics drifting like real ones — to `demo.channel`, so the demo page's
 * live stream has something to show without a backend. Each node with the option on publishes its own stream; turn
 * it on for one node only.
 */
import type { Logger } from '../observability/logger.js';
import type { ServerPublication } from '../protocol/index.js';

/** One `data_update` payload. Units: °C, % relative humidity, % CPU; `timestamp` in Unix seconds (as in seed 002). */
export interface DemoMetrics {
  temperature: number;
  humidity: number;
  cpu: number;
  timestamp: number;
  seq: number;
}

type Publish = (channel: string, event: string, data: string) => Promise<ServerPublication>;

export class DemoProducer {
  private timer: NodeJS.Timeout | undefined;
  /** A publish still waiting (the broker is slow or down): skip ticks instead of piling them up. */
  private inFlight = false;
  private failing = false;
  private seq = 0;
  private readonly value = { temperature: 22.5, humidity: 55, cpu: 30 };

  constructor(
    private readonly publish: Publish,
    private readonly channel: string,
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
    this.logger.info({ channel: this.channel, intervalMs: this.intervalMs }, 'demo producer publishing data_update events');
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The next sample: a bounded random walk per metric. */
  next(): DemoMetrics {
    const v = this.value;
    v.temperature = walk(v.temperature, 0.3, 15, 35);
    v.humidity = walk(v.humidity, 1.5, 20, 90);
    v.cpu = walk(v.cpu, 8, 1, 99);
    return { temperature: round(v.temperature), humidity: round(v.humidity), cpu: round(v.cpu), timestamp: Math.floor(Date.now() / 1000), seq: ++this.seq };
  }

  private tick(): void {
    if (this.inFlight) return;
    this.inFlight = true;
    this.publish(this.channel, 'data_update', JSON.stringify(this.next()))
      .then(() => {
        if (this.failing) this.logger.info({ channel: this.channel }, 'demo producer publishing again');
        this.failing = false;
      })
      .catch((err: unknown) => {
        // Logged once per outage: the broker's own health reporting says the rest.
        if (!this.failing) this.logger.warn({ err, channel: this.channel }, 'demo producer publish failed');
        this.failing = true;
      })
      .finally(() => (this.inFlight = false));
  }
}

function walk(x: number, step: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, x + (Math.random() * 2 - 1) * step));
}

const round = (x: number) => Math.round(x * 10) / 10;
