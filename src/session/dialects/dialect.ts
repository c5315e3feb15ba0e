import { CommandError, type Command, type CommandId, type DecodeLimits, type ErrorBody, type ErrorCode } from '../../protocol/index.js';

/**
 * A dialect adapter: one client vocabulary (the native protocol, the seeds' frames, later Pusher's and Centrifuge's
 * protocols) turned into native commands before anything is checked, so every vocabulary passes exactly the same
 * permission checks, limits, spans and metrics (GUIDE.md, "A dialect is an adapter, not a second path").
 *
 * An adapter owns everything that differs between vocabularies: which frames are its own, how they map onto native
 * `Step`s, the shape of its error replies and the frames it sends of its own accord (seed 000's pong). The session
 * owns the rest. One adapter object serves one connection, so an adapter may keep per-connection state (seed 000
 * remembers its join). Adapters speaking on the native endpoint are tried in order (index.ts); one that owns an
 * endpoint and handshake of its own (Pusher's `/app/{key}`, pusher.ts) is the only adapter of its connections
 * (its FrameDecoder), answers in its own shape through its session (pusher-session.ts) and gives no native replies.
 */
export interface Dialect {
  /** Label in spans (`message.dialect`) and logs: `native`, `seed002`, `seed000`. */
  readonly name: string;
  /** Whether a parsed frame is in this vocabulary. */
  recognizes(frame: Record<string, unknown>): boolean;
  /** The native steps a frame stands for. Throws CommandError (protocol/) for a malformed frame. */
  translate(frame: Record<string, unknown>): Translation;
  /**
   * An error reply in this vocabulary; `id` is the frame's, when it got far enough to have one; `command` the native
   * command that failed, when the frame was translated (Pusher answers a failed subscribe on its channel).
   */
  errorJson(id: CommandId, error: ErrorBody, command?: Command): string;
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
  /**
   * A check of the dialect's own credentials (Pusher's channel signature), run first, before the native checks of
   * the command: its ReplyError is answered and counted like theirs.
   */
  readonly guard?: () => void;
}

export interface DialectJoin {
  joined(): void;
}

/**
 * What a frame is, in its own vocabulary, for its command's span: the legacy chat frames are named as the seeds
 * name them (chat_room.join, ...), and a seed client's trace fields parent the span.
 */
export type FrameKind = 'command' | 'room_join' | 'room_leave' | 'room_send' | 'hub_message';

export interface FrameInfo {
  readonly kind: FrameKind;
  /** The frame's own type: the native method, seed 002's `type`, seed 000's `action` (span attribute `event.type`). */
  readonly type: string;
  /** W3C trace context the frame carried (a seed's `trace_id`/`span_id`/`trace_flags`), to parent its span on. */
  readonly traceparent?: string;
  readonly tracestate?: string;
}

/** A frame as native steps, run in order (the first error stops the rest). */
export interface Translation {
  readonly steps: readonly Step[];
  /**
   * What the frame is (span name, `event.type`, carried trace context). Absent: a plain command
   * (`websocket.handle_message`, `event.type` = the native method), as for Pusher's frames.
   */
  readonly frame?: FrameInfo;
  /** JSON text to send once every step succeeded (seed 000's pong). */
  readonly reply?: string;
}

/** The vocabulary of one connection: frames in, native steps out (Dialects for the native endpoint). */
export interface FrameDecoder {
  /** The adapter that answers frames no adapter could read (undecodable JSON, too large, binary). */
  readonly native: Dialect;
  /** Decodes one text frame. Throws DialectError for every malformed input, never anything else (untrusted input). */
  decode(text: string): Decoded;
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

/** A frame as native steps, with the adapter that translated it (it answers the steps' errors). */
export interface Decoded extends Translation {
  readonly dialect: Dialect;
}

/** A malformed frame, to be answered by `dialect` (in its shape) with `id` when the frame had a readable one. */
export class DialectError extends CommandError {
  constructor(code: ErrorCode, message: string, id: CommandId, readonly dialect: Dialect) {
    super(code, message, id);
  }
}

