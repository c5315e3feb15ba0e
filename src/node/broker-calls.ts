import { isReplay, type Broker, type HistoryPage, type HistoryQuery, type PublishRequest, type StatePage, type StateQuery } from '../broker/broker.js';
import type { TraceContext } from '../core/trace-context.js';
import { inc } from '../observability/counters.js';
import type { PublishTracing } from '../observability/publish-tracing.js';
import type { Telemetry } from '../observability/telemetry.js';
import { Disconnects, type Member, type PublicationMeta, type ServerPublication } from '../protocol/index.js';
import { PositionReads } from './position-reads.js';

/**
 * The node's broker operations: each one timed (`switchboard_broker_duration`, by `operation`) with its failures
 * counted (`switchboard_broker_errors_total`), reads under a span when the caller is traced, and the messages to
 * users and connections on every node (the broker's control channel). Sessions, the API and the embed API reach the
 * broker only through these (NodeServices), never directly.
 */
export abstract class BrokerCalls {
  constructor(
    readonly broker: Broker,
    readonly telemetry: Telemetry,
    protected readonly publishTracing: PublishTracing,
  ) {}

  get counters() {
    return this.telemetry.counters;
  }

  /** The broker publish, timed (made once: the publish path allocates no closure for it). */
  protected readonly brokerPublish = (req: PublishRequest): Promise<ServerPublication> => this.timed('publish', this.broker.publish(req));

  /** New subscribers' reads of their channel's top position, batched per channel (position-reads.ts). */
  private readonly positionReads = new PositionReads<HistoryPage>();

  /**
   * History through the broker, timed; a `history.read` span under `parent` when tracing. A subscriber's position
   * read (`{ limit: 0, open: true }`, nothing else) is batched with the others of its channel (position-reads.ts).
   */
  history(channel: string, query: HistoryQuery, parent?: TraceContext): Promise<HistoryPage> {
    const read = (): Promise<HistoryPage> => this.broker.history(channel, query);
    const positionOnly = query.limit === 0 && query.open === true && query.since === undefined && query.reverse === undefined;
    return this.publishTracing.read(
      'history.read',
      channel,
      parent,
      () => this.timed('history', positionOnly ? this.positionReads.read(channel, read) : read()),
      (h) => h.publications.length,
    );
  }

  /** A page of a keyed channel's state through the broker, timed; a `state.read` span under `parent` when tracing. */
  keyedState(channel: string, query: StateQuery, parent?: TraceContext): Promise<StatePage> {
    return this.publishTracing.read('state.read', channel, parent, () => this.timed('state', this.broker.state(channel, query)), (p) => p.publications.length);
  }

  /** Presence through the broker, timed; a `presence.get` span under `parent` when tracing. */
  presence(channel: string, parent?: TraceContext): Promise<Member[]> {
    return this.publishTracing.read('presence.get', channel, parent, () => this.timed('presence', this.broker.presence(channel)), (m) => m.length);
  }

  addPresence(channel: string, member: Member): Promise<void> {
    return this.timed('presence_add', this.broker.addPresence(channel, member));
  }

  removePresence(channel: string, clientId: string): Promise<void> {
    return this.timed('presence_remove', this.broker.removePresence(channel, clientId));
  }

  publishJoin(channel: string, member: Member): Promise<void> {
    return this.timed('join', this.broker.publishJoin(channel, member));
  }

  publishLeave(channel: string, member: Member): Promise<void> {
    return this.timed('leave', this.broker.publishLeave(channel, member));
  }

  /**
   * A direct message through the broker to every node. Traced: a `notification.send` producer span (child of
   * `parent`, else of the trace `meta` names) whose context the message carries, as a publication carries its
   * publish span's; with tracing off, a caller's own `meta` is passed through unchanged.
   */
  sendToUser(user: string, event: string, data: string, meta?: PublicationMeta, from?: string, parent?: TraceContext): Promise<void> {
    return this.publishTracing.direct(user, event, data, meta, parent, (m) =>
      this.broker.publishControl({ kind: 'user-message', user, event, data, time: Date.now(), ...(m ? { meta: m } : {}), ...(from !== undefined ? { from } : {}) }),
    );
  }

  disconnectUser(user: string, code = Disconnects.ForceDisconnect.code, reason = Disconnects.ForceDisconnect.reason): Promise<void> {
    return this.broker.publishControl({ kind: 'disconnect-user', user, code, reason });
  }

  /** Disconnects one connection by id, on whichever node holds it (no error when none does). */
  disconnectClient(client: string, code = Disconnects.ForceDisconnect.code, reason = Disconnects.ForceDisconnect.reason): Promise<void> {
    return this.broker.publishControl({ kind: 'disconnect-client', client, code, reason });
  }

  protected readonly countPublication = (pub: ServerPublication): ServerPublication => {
    if (isReplay(pub)) this.counters.publishReplays++;
    else this.counters.publications++;
    return pub;
  };

  /** Times a broker operation and counts its failures. */
  timed<T>(operation: string, p: Promise<T>): Promise<T> {
    const start = performance.now();
    return p.then(
      (v) => {
        this.telemetry.histograms.brokerDuration.record((performance.now() - start) / 1000, { operation });
        return v;
      },
      (err: unknown) => {
        inc(this.counters.brokerErrors, operation);
        throw err;
      },
    );
  }
}
