import type { BrokerHandler, ControlMessage } from '../broker/broker.js';
import type { FlushScheduler } from '../delivery/flush.js';
import type { Hub } from '../hub/hub.js';
import type { Logger } from '../observability/logger.js';
import type { PublishTracing } from '../observability/publish-tracing.js';
import type { Telemetry } from '../observability/telemetry.js';
import { Disconnects, directMessageJson, memberEventJson, reconnects, type Member, type ServerPublication } from '../protocol/index.js';

/**
 * What the node does with what its broker reports (the broker's handler): publications fan out to this node's
 * subscribers, join/leave reach the channel's members, a gap disconnects the channel's subscribers so they resume,
 * and control messages (direct messages, forced disconnects) reach the user's local connections.
 */
export class BrokerEvents implements BrokerHandler {
  constructor(
    private readonly hub: Hub,
    private readonly tracing: PublishTracing,
    private readonly telemetry: Telemetry,
    private readonly scheduler: FlushScheduler,
    private readonly logger: Logger,
    /** Control messages of other parts (the operator's connection queries: src/node/connection-query.ts). */
    private readonly otherControl: (msg: ControlMessage) => void,
  ) {}

  onPublication(pub: ServerPublication): void {
    // Tracing off: straight to the hub's fan-out loop. On: a `hub.broadcast` span and sampled write spans.
    const recipients = this.tracing.broadcast(pub, this.hub);
    if (recipients === 0) return;
    this.telemetry.counters.deliveries += recipients;
    this.telemetry.histograms.fanoutSize.record(recipients);
    this.scheduler.noteWritten(pub.time);
    this.scheduler.fannedOut(recipients);
  }

  onJoin(channel: string, member: Member): void {
    this.hub.memberEvent(channel, 'join', memberEventJson('join', channel, member), member.client);
  }

  onLeave(channel: string, member: Member): void {
    this.hub.memberEvent(channel, 'leave', memberEventJson('leave', channel, member), member.client);
  }

  onGap(channel: string): void {
    const n = this.hub.disconnectChannel(channel, Disconnects.InsufficientState);
    // debug: the broker logs one line per recovery, whatever the number of channels.
    this.logger.debug({ event: 'publication_gap', channel, subscribers: n }, 'publications missed while reconnecting to the broker; disconnecting the channel\'s subscribers so they resume');
  }

  onControl(msg: ControlMessage): void {
    if (msg.kind === 'user-message') {
      this.hub.sendToUser(msg.user, msg.event, directMessageJson(msg));
    } else if (msg.kind === 'disconnect-user') {
      this.hub.disconnectUser(msg.user, { code: msg.code, reason: msg.reason, reconnect: reconnects(msg.code) });
    } else if (msg.kind === 'disconnect-client') {
      this.hub.disconnectClient(msg.client, { code: msg.code, reason: msg.reason, reconnect: reconnects(msg.code) });
    } else {
      this.otherControl(msg);
    }
  }
}
