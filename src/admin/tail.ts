/**
 * Tails one channel for the admin console (`GET /admin/tail?channel=`): the response joins the channel on this node
 * like a subscriber (the node subscribes the broker when it is the channel's first local subscriber, so on Redis it
 * sees every node's publications) and streams each publication, join and leave as an SSE event. It is an observer:
 * not a connection (not counted in connections or presence), never publishes, and it is ended like any subscriber
 * when the channel's subscribers are disconnected (a gap after a broker outage): the console then reconnects.
 */
import type { ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { ChannelSubscription, ConnectionView, Subscriber } from '../hub/hub.js';
import type { EncodedPublication } from '../delivery/encoded.js';
import type { Disconnect } from '../protocol/index.js';
import { AdminEventStream } from './event-stream.js';

export interface TailHost {
  joinChannel(channel: string, sub: ChannelSubscription): Promise<void>;
  leaveChannel(channel: string, sub: ChannelSubscription): void;
}

export class ChannelTail implements Subscriber, ChannelSubscription {
  readonly id = `admin-tail-${randomUUID()}`;
  readonly transport = 'admin';
  private readonly stream: AdminEventStream;
  private left = false;

  constructor(
    private readonly host: TailHost,
    readonly channel: string,
    readonly userId: string,
    res: ServerResponse,
    onEnd: () => void,
  ) {
    this.stream = new AdminEventStream(res, () => {
      this.leave();
      onEnd();
    });
  }

  async start(): Promise<void> {
    await this.host.joinChannel(this.channel, this);
    this.stream.send('ready', JSON.stringify({ channel: this.channel }));
  }

  get subscriber(): Subscriber {
    return this;
  }

  deliver(enc: EncodedPublication): void {
    this.stream.send('publication', enc.json);
  }

  deliverMemberEvent(_channel: string, event: string, json: string): void {
    this.stream.send(event, json);
  }

  deliverDirect(): void {}

  disconnect(_d: Disconnect): void {
    this.stream.end();
  }

  watchWrite(watch: { written(): void }): void {
    watch.written();
  }

  view(): ConnectionView {
    return { client: this.id, user: this.userId, transport: this.transport, ip: '', since: 0, channels: [this.channel] };
  }

  end(): void {
    this.stream.end();
  }

  private leave(): void {
    if (this.left) return;
    this.left = true;
    this.host.leaveChannel(this.channel, this);
  }
}
