import type { Authenticator } from '../auth/identity.js';
import type { Config } from '../config/index.js';
import type { ClientAddress } from '../core/client-address.js';
import type { Counters } from '../observability/counters.js';
import type { LimitLogged } from '../observability/limit-log.js';
import type { Logger } from '../observability/logger.js';
import type { NodeServices } from '../session/services.js';
import type { Session } from '../session/session.js';
import type { TransportTelemetry } from './telemetry.js';

/**
 * What a transport needs from the node that hosts it, and nothing more (the node implements it). A transport
 * handles the handshake, makes the session, and hands it to the host (`attach`); the session leaves through the
 * node again when it ends (NodeServices.detach), so the node alone registers and unregisters connections.
 */
export interface TransportHost {
  readonly config: Config;
  readonly logger: Logger;
  readonly authenticator: Authenticator;
  /** Client addresses, read through trusted proxies (`proxy.trusted`). */
  readonly clientAddress: ClientAddress;
  /** Plain counters (frames and bytes received). */
  readonly counters: Counters;
  /** Handshake spans (no-op when tracing is off). */
  readonly transportTelemetry: TransportTelemetry;
  /** What the sessions a transport makes are given. */
  readonly services: NodeServices;
  /** Ready for new connections (started, not draining, broker reachable). */
  isReady(): boolean;
  /** Counts a limit hit; logs it once per connection, or once per second per limit for a refused one. */
  limitHit(limit: string, session?: LimitLogged, fields?: Record<string, unknown>): void;
  /** Registers an accepted connection with the node (hub indexes, connect span). */
  attach(session: Session): void;
}
