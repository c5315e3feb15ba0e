/**
 * A custom broker written against the installed package's public exports only (scripts/check-package.mjs
 * type-checks and runs it): it wraps the memory broker, counts publications, and refuses to publish while marked
 * down, as a real broker does when its backend is unreachable. Exits 0 when the server used it.
 */
import {
  BrokerUnavailableError, createMemoryBroker, createSwitchboard,
  type Broker, type BrokerHandler, type ControlMessage, type HistoryPage, type HistoryQuery, type Member,
  type PublishRequest, type ServerPublication, type StatePage, type StateQuery,
} from 'switchboard';

class CountingBroker implements Broker {
  readonly kind = 'counting';
  published = 0;
  down = false;
  private readonly inner = createMemoryBroker({ history: { size: 100, ttlMs: 60_000 }, metaTtlMs: 60_000 });

  start(handler: BrokerHandler): Promise<void> { return this.inner.start(handler); }
  close(): Promise<void> { return this.inner.close(); }
  isReady(): boolean { return !this.down && this.inner.isReady(); }
  async publish(req: PublishRequest): Promise<ServerPublication> {
    if (this.down) throw new BrokerUnavailableError('backend unreachable');
    this.published++;
    return this.inner.publish(req);
  }
  subscribe(channel: string): Promise<void> { return this.inner.subscribe(channel); }
  unsubscribe(channel: string): Promise<void> { return this.inner.unsubscribe(channel); }
  history(channel: string, query?: HistoryQuery): Promise<HistoryPage> { return this.inner.history(channel, query); }
  state(channel: string, query: StateQuery): Promise<StatePage> { return this.inner.state(channel, query); }
  addPresence(channel: string, member: Member): Promise<void> { return this.inner.addPresence(channel, member); }
  removePresence(channel: string, clientId: string): Promise<void> { return this.inner.removePresence(channel, clientId); }
  presence(channel: string): Promise<Member[]> { return this.inner.presence(channel); }
  publishJoin(channel: string, member: Member): Promise<void> { return this.inner.publishJoin(channel, member); }
  publishLeave(channel: string, member: Member): Promise<void> { return this.inner.publishLeave(channel, member); }
  publishControl(msg: ControlMessage): Promise<void> { return this.inner.publishControl(msg); }
}

const broker = new CountingBroker();
const sb = createSwitchboard({ broker, config: { port: 0, logLevel: 'warn', demo: { enabled: false } } });
await sb.listen();
const pub = await sb.publish('news', { title: 'Hello' });
const history = await sb.history('news');
broker.down = true;
const refused = await sb.publish('news', {}).then(() => false, (err: unknown) => err instanceof Error);
await sb.shutdown();
if (broker.published !== 1 || pub.offset !== 1 || history.length !== 1 || !refused) {
  console.error('custom broker not used as expected', { published: broker.published, pub, history, refused });
  process.exit(1);
}
