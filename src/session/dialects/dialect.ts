import type { Command, CommandId, DecodeLimits, ErrorBody } from '../../protocol/index.js';

/**
 * A dialect adapter: one client vocabulary (the native protocol, the seeds' frames, later Pusher's and Centrifuge's
 * protocols) turned into native commands before anything is checked, so every vocabulary passes exactly the same
 * permission checks, limits, spans and metrics (GUIDE.md, "A dialect is an adapter, not a second path").
 *
 * An adapter owns everything that differs between vocabularies: which frames are its own, how they map onto native
 * `Step`s, the shape of its error replies and the frames it sends of its own accord (seed 000's pong). The session
 * owns the rest. One adapter object serves one connection, so an adapter may keep per-connection state (seed 000
 * remembers its join). Adapters speaking on the native endpoint are tried in order (index.ts); one that owns an
 * endpoint and handshake of its own (Pusher's `/app/{key}`) would be the only adapter of its connections, and would
 * add its success replies and publication shape here when it comes (issue #17).
 */
export interface Dialect {
  /** Label in spans (`message.dialect`) and logs: `native`, `seed002`, `seed000`. */
  readonly name: string;
  /** Whether a parsed frame is in this vocabulary. */
  recognizes(frame: Record<string, unknown>): boolean;
  /** The native steps a frame stands for. Throws CommandError (protocol/) for a malformed frame. */
  translate(frame: Record<string, unknown>): Translation;
  /** An error reply in this vocabulary; `id` is the frame's, when it got far enough to have one. */
  errorJson(id: CommandId, error: ErrorBody): string;
  /**
   * A success reply in this vocabulary, for adapters that own their endpoint (Centrifuge): `result` is the native
   * result object, or for `history` the page (broker/pages.ts) and for `rpc` the backend's JSON text. Absent: the
   * native reply shapes.
   */
  resultJson?(cmd: Command, result: unknown): string;
  /** Whether subscriptions it makes are announced with the native `caught_up` push (clients that know it). */
  readonly announcesCatchUp: boolean;
}

/** One native command a frame stands for; a translated one has no id, so only its errors are answered. */
export interface Step {
  readonly command: Command;
  /**
   * Set on a subscribe the dialect makes on the client's behalf (seed 000's join): skipped when the connection is
   * already subscribed to the channel, and `joined()` is told once the subscription is allowed (or skipped).
   */
  readonly join?: DialectJoin;
}

export interface DialectJoin {
  joined(): void;
}

/** A frame as native steps, run in order (the first error stops the rest). */
export interface Translation {
  readonly steps: readonly Step[];
  /** JSON text to send once every step succeeded (seed 000's pong). */
  readonly reply?: string;
}

/** What the adapters of one connection need to know about it. */
export interface DialectContext {
  /** The connection's user: seed frames carry it in the data they publish (`user_id`, `from_user_id`). */
  readonly userId: string;
  /** `compat.seed000Channel`: the channel seed 000 clients join and chat on (default `broadcast`). */
  readonly seed000Channel: string;
  /** Bounds of channel names, history limits and keys (configuration). */
  readonly limits: DecodeLimits;
}
