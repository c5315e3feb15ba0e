import { ErrorCode, ReplyError } from './errors.js';
import {
  booleanProblem,
  idempotencyKeyProblem,
  channelProblem,
  dataProblem,
  eventProblem,
  historyLimitProblem,
  keyProblem,
  MAX_TRACESTATE_LENGTH,
  opProblem,
  REQUIRED,
  stringProblem,
  traceparentProblem,
  type FieldLimits,
  type FieldProblem,
} from './fields.js';
import type { DeltaFormat, KeyOp } from './frames.js';
import { DEFAULT_MAX_KEY_LENGTH } from './names.js';
import { isStreamPosition, type StreamPosition } from './position.js';

/**
 * Client → server frames of the native protocol: `{"id": 1, "method": "subscribe", "params": {...}}`.
 * `id` (a number or a string of at most 64 characters) is echoed in the reply; without it the command is
 * fire-and-forget and only errors are answered (with `"id": null`).
 */
export type CommandId = number | string | null;

export interface SubscribeParams {
  channel: string;
  /** Resume from this position: the last one the client saw. */
  since?: StreamPosition;
  /** A subscription token, for channels of namespaces that require one. */
  token?: string;
  /**
   * Delta compression: `fossil` asks for publications as fossil deltas against the previous one this subscription
   * was sent, when smaller (docs/protocol.md). WebSocket, native protocol, channels that are not keyed.
   */
  delta?: DeltaFormat;
  /**
   * Keyed channels: whether a client without a usable position gets the channel's state (a full snapshot) before
   * live publications. Default true; false subscribes to live publications only.
   */
  snapshot?: boolean;
  /** JSON text of custom data for the subscribe proxy (docs/proxy.md); ignored when the channel has none. */
  data?: string;
}
export interface PublishParams {
  channel: string;
  event: string;
  /** JSON text of the data, exactly as it will be delivered. */
  data: string;
  /** W3C trace context of the caller, kept with the publication. */
  traceparent?: string;
  tracestate?: string;
  /** Keyed channels: the key this publication sets or deletes, and how (default `upsert`). */
  key?: string;
  op?: KeyOp;
  /** Skip the publishing connection when delivering (`exclude_self`, Pusher client events; PublicationMeta.exclude). */
  excludeSelf?: boolean;
  /** Idempotent publish: a retry with the same key within the window publishes nothing and answers the first position. */
  idempotencyKey?: string;
}
/**
 * A fresh token. Without `channel`: the connection token (same user). With `channel`: a subscription token for that
 * subscribed channel, whose expiry then becomes the subscription's.
 */
export interface RefreshParams {
  token: string;
  channel?: string;
}
/** A message to every connection of one user (`send`): not part of any channel, so no position and no history. */
export interface SendParams {
  user: string;
  event: string;
  /** JSON text of the data. */
  data: string;
  /** W3C trace context of the caller, carried to the recipients like a publication's. */
  traceparent?: string;
  tracestate?: string;
}
export interface HistoryParams {
  channel: string;
  since?: StreamPosition;
  /** Only publications before this position: how a newest-first read continues after a reply cut by its byte bound. */
  before?: StreamPosition;
  limit?: number;
  reverse?: boolean;
}

/** A call to the application's backend through the rpc proxy (docs/proxy.md). */
export interface RpcParams {
  /** 1-255 characters of letters, digits and `_-.:/`; `ns:name` picks namespace `ns`'s rpc proxy. */
  method: string;
  /** JSON text of the data (`null` when absent). */
  data: string;
}

/** Rpc method names: like channel names, a `ns:` prefix names the namespace. */
const RPC_METHOD = /^[A-Za-z0-9_\-.:/]{1,255}$/;

export type Command =
  | { id: CommandId; method: 'subscribe'; params: SubscribeParams }
  | { id: CommandId; method: 'unsubscribe'; params: { channel: string } }
  | { id: CommandId; method: 'publish'; params: PublishParams }
  | { id: CommandId; method: 'presence'; params: { channel: string } }
  | { id: CommandId; method: 'history'; params: HistoryParams }
  | { id: CommandId; method: 'ping'; params: Record<string, never> }
  | { id: CommandId; method: 'refresh'; params: RefreshParams }
  | { id: CommandId; method: 'send'; params: SendParams }
  | { id: CommandId; method: 'rpc'; params: RpcParams };

export type Method = Command['method'];

/** What went wrong, with the id to answer when the frame got far enough to have one. */
export class CommandError extends ReplyError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly id: CommandId = null,
  ) {
    super(code, message);
  }
}

/** The bounds a decoder checks fields against (fields.ts). */
export type DecodeLimits = FieldLimits;

const DEFAULT_LIMITS: DecodeLimits = { maxChannelLength: 255, maxHistoryLimit: 1000 };

/**
 * Decodes one text frame of the native protocol. Throws CommandError with a stable code for every malformed input;
 * never throws anything else (a frame is untrusted input). Frames of other vocabularies are told apart and
 * translated by the session's dialect adapters (src/session/dialects/), which call `parseFrame` and `decodeFrame`.
 */
export function decodeCommand(text: string, limits: DecodeLimits = DEFAULT_LIMITS): Command {
  return decodeFrame(parseFrame(text), limits);
}

/** A frame's JSON, which must be an object. */
export function parseFrame(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new CommandError(ErrorCode.InvalidJson, 'frame is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CommandError(ErrorCode.InvalidJson, 'frame must be a JSON object');
  }
  return value as Record<string, unknown>;
}

export function readId(frame: Record<string, unknown>): CommandId {
  const id = frame.id;
  if (id === undefined || id === null) return null;
  if (typeof id === 'number' && Number.isSafeInteger(id)) return id;
  if (typeof id === 'string' && id.length <= 64) return id;
  throw new CommandError(ErrorCode.BadRequest, '"id" must be an integer or a string of at most 64 characters');
}

/** An optional object field (`params`, seed 002's `payload`); absent is an empty object. */
export function objectField(obj: Record<string, unknown>, key: string, id: CommandId): Record<string, unknown> {
  const v = obj[key];
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new CommandError(ErrorCode.BadRequest, `"${key}" must be an object`, id);
  }
  return v as Record<string, unknown>;
}

/** A required channel name under `key` (`channel`, seed 002's `room_id`). */
export function channelField(params: Record<string, unknown>, key: string, id: CommandId, limits: DecodeLimits): string {
  const v = params[key];
  check(`"${key}"`, v === undefined ? REQUIRED : channelProblem(v, limits.maxChannelLength), id);
  return v as string;
}

/** Throws the field's problem as a CommandError whose message starts with the field's name. */
function check(name: string, problem: FieldProblem | undefined, id: CommandId): void {
  if (problem) throw new CommandError(problem.code, `${name} ${problem.message}`, id);
}

function sinceField(params: Record<string, unknown>, id: CommandId, name: 'since' | 'before' = 'since'): StreamPosition | undefined {
  const v = params[name];
  if (v === undefined || v === null) return undefined;
  if (!isStreamPosition(v)) {
    throw new CommandError(ErrorCode.BadRequest, `"${name}" must be {"epoch": string, "offset": integer >= 0}`, id);
  }
  return { epoch: v.epoch, offset: v.offset };
}

function optionalString(params: Record<string, unknown>, key: string, id: CommandId, max: number): string | undefined {
  const v = params[key];
  if (v === undefined) return undefined;
  check(`"${key}"`, stringProblem(v, max), id);
  return v as string;
}

/** JSON text of parsed data. Data nested a few thousand levels deep parses, but overflows JSON.stringify's stack. */
export function jsonText(value: unknown, id: CommandId, name = 'data'): string {
  try {
    return JSON.stringify(value);
  } catch {
    throw new CommandError(ErrorCode.BadRequest, `"${name}" is nested too deeply`, id);
  }
}

function optionalBoolean(params: Record<string, unknown>, key: string, id: CommandId): boolean | undefined {
  const v = params[key];
  if (v === undefined || v === null) return undefined;
  check(`"${key}"`, booleanProblem(v), id);
  return v as boolean;
}

function traceparentField(params: Record<string, unknown>, id: CommandId): string | undefined {
  const v = params.traceparent;
  if (v === undefined) return undefined;
  check('"traceparent"', traceparentProblem(v), id);
  return v as string;
}

/** `idempotency_key` of a publish, as `idempotencyKey` (absent when not sent). */
function idempotencyField(params: Record<string, unknown>, id: CommandId): { idempotencyKey?: string } {
  const v = params.idempotency_key;
  if (v === undefined) return {};
  check('"idempotency_key"', idempotencyKeyProblem(v), id);
  return { idempotencyKey: v as string };
}

/** `key` and `op` of a keyed publish: `op` alone is refused, `delete` needs no `data`. */
function keyFields(params: Record<string, unknown>, id: CommandId, limits: DecodeLimits): { key?: string; op?: KeyOp } {
  const { key, op } = params;
  check('"op"', opProblem(op, key), id);
  if (key === undefined) return {};
  check('"key"', keyProblem(key, limits.maxKeyLength ?? DEFAULT_MAX_KEY_LENGTH), id);
  return { key: key as string, op: (op as KeyOp | undefined) ?? 'upsert' };
}

/** A parsed frame of the native protocol (`{"id", "method", "params"}`) as a Command. */
export function decodeFrame(frame: Record<string, unknown>, limits: DecodeLimits = DEFAULT_LIMITS): Command {
  if (!('method' in frame)) throw new CommandError(ErrorCode.BadRequest, 'frame needs a "method" field', readId(frame));
  const id = readId(frame);
  const method = frame.method;
  if (typeof method !== 'string') throw new CommandError(ErrorCode.BadRequest, '"method" must be a string', id);
  const params = objectField(frame, 'params', id);
  switch (method) {
    case 'subscribe': {
      const snapshot = optionalBoolean(params, 'snapshot', id);
      const delta = params.delta;
      if (delta !== undefined && delta !== null && delta !== 'fossil') throw new CommandError(ErrorCode.BadRequest, '"delta" must be "fossil"', id);
      if (params.data !== undefined) check('"data"', dataProblem(params.data), id);
      return {
        id,
        method,
        params: {
          channel: channelField(params, 'channel', id, limits),
          since: sinceField(params, id),
          token: optionalString(params, 'token', id, 8192),
          ...(snapshot === undefined ? {} : { snapshot }),
          ...(delta === 'fossil' ? { delta } : {}),
          ...(params.data === undefined ? {} : { data: jsonText(params.data, id) }),
        },
      };
    }
    case 'unsubscribe':
      return { id, method, params: { channel: channelField(params, 'channel', id, limits) } };
    case 'publish': {
      const channel = channelField(params, 'channel', id, limits);
      const event = eventField(params, id);
      const keyed = keyFields(params, id, limits);
      // A delete carries no value: its data is null whatever was sent.
      const isDelete = keyed.op === 'delete';
      if (!isDelete) check('"data"', dataProblem(params.data), id);
      return {
        id,
        method,
        params: {
          channel,
          event,
          data: isDelete ? 'null' : jsonText(params.data, id),
          traceparent: traceparentField(params, id),
          tracestate: optionalString(params, 'tracestate', id, MAX_TRACESTATE_LENGTH),
          ...keyed,
          ...idempotencyField(params, id),
          // The publishing connection gets a `skip` push in place of its own publication (docs/protocol.md).
          ...(optionalBoolean(params, 'exclude_self', id) ? { excludeSelf: true } : {}),
        },
      };
    }
    case 'presence':
      return { id, method, params: { channel: channelField(params, 'channel', id, limits) } };
    case 'history': {
      const channel = channelField(params, 'channel', id, limits);
      const limit = params.limit;
      if (limit !== undefined) check('"limit"', historyLimitProblem(limit, limits.maxHistoryLimit), id);
      const reverse = params.reverse;
      if (reverse !== undefined && typeof reverse !== 'boolean') {
        throw new CommandError(ErrorCode.BadRequest, '"reverse" must be a boolean', id);
      }
      const before = sinceField(params, id, 'before');
      return { id, method, params: { channel, since: sinceField(params, id), limit: limit as number | undefined, reverse, ...(before ? { before } : {}) } };
    }
    case 'ping':
      return { id, method, params: {} };
    case 'send': {
      const user = params.user;
      if (typeof user !== 'string' || user.length === 0 || user.length > 255) {
        throw new CommandError(ErrorCode.BadRequest, '"user" must be a non-empty string of at most 255 characters', id);
      }
      const event = eventField(params, id);
      check('"data"', dataProblem(params.data), id);
      const traceparent = traceparentField(params, id);
      const tracestate = optionalString(params, 'tracestate', id, MAX_TRACESTATE_LENGTH);
      return { id, method, params: { user, event, data: jsonText(params.data, id), ...(traceparent ? { traceparent } : {}), ...(tracestate ? { tracestate } : {}) } };
    }
    case 'rpc': {
      const m = params.method;
      if (typeof m !== 'string' || !RPC_METHOD.test(m)) {
        throw new CommandError(ErrorCode.BadRequest, '"method" of params must be 1-255 characters of letters, digits and _-.:/', id);
      }
      return { id, method, params: { method: m, data: params.data === undefined ? 'null' : jsonText(params.data, id) } };
    }
    case 'refresh': {
      const token = optionalString(params, 'token', id, 8192);
      if (!token) throw new CommandError(ErrorCode.BadRequest, '"token" is required', id);
      if (params.channel === undefined) return { id, method, params: { token } };
      return { id, method, params: { token, channel: channelField(params, 'channel', id, limits) } };
    }
    default:
      throw new CommandError(ErrorCode.UnknownMethod, `unknown method ${JSON.stringify(method.slice(0, 64))}`, id);
  }
}

/** `event`, `message` when absent. */
function eventField(params: Record<string, unknown>, id: CommandId): string {
  const event = params.event === undefined ? 'message' : params.event;
  check('"event"', eventProblem(event), id);
  return event as string;
}
