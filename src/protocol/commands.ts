import { ErrorCode, ReplyError } from './errors.js';
import type { KeyOp } from './frames.js';
import { DEFAULT_MAX_KEY_LENGTH, EVENT_RULE, isValidChannel, isValidEvent, isValidKey, KEY_RULE, TRACEPARENT_PATTERN } from './names.js';
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
   * Keyed channels: whether a client without a usable position gets the channel's state (a full snapshot) before
   * live publications. Default true; false subscribes to live publications only.
   */
  snapshot?: boolean;
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
}
export interface HistoryParams {
  channel: string;
  since?: StreamPosition;
  /** Only publications before this position: how a newest-first read continues after a reply cut by its byte bound. */
  before?: StreamPosition;
  limit?: number;
  reverse?: boolean;
}

export type Command =
  | { id: CommandId; method: 'subscribe'; params: SubscribeParams }
  | { id: CommandId; method: 'unsubscribe'; params: { channel: string } }
  | { id: CommandId; method: 'publish'; params: PublishParams }
  | { id: CommandId; method: 'presence'; params: { channel: string } }
  | { id: CommandId; method: 'history'; params: HistoryParams }
  | { id: CommandId; method: 'ping'; params: Record<string, never> }
  | { id: CommandId; method: 'refresh'; params: RefreshParams }
  | { id: CommandId; method: 'send'; params: SendParams }
  // Seed 002 vocabulary (`{"type": ..., "payload": {...}}`), translated into native commands by the session's
  // dialect adapter (src/session/dialects.ts) before any check.
  | { id: CommandId; method: 'seed.send_to_user'; params: { userId: string; payload: Record<string, unknown> } }
  | { id: CommandId; method: 'seed.send_to_room'; params: { channel: string; payload: Record<string, unknown> } }
  // Seed 000 vocabulary (`{"action": "ping" | "chat", "data": ...}`).
  | { id: CommandId; method: 'seed.ping'; params: Record<string, never> }
  | { id: CommandId; method: 'seed.chat'; params: { data: string } };

export type Method = Command['method'];

/** The commands of the native protocol: what every dialect is translated into before it is checked and run. */
export type NativeCommand = Exclude<Command, { method: `seed.${string}` }>;

/** What went wrong, with the id to answer when the frame got far enough to have one. */
export class CommandError extends ReplyError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly id: CommandId = null,
    /** Which vocabulary the frame used, so the error is answered in kind. */
    readonly dialect: Dialect = 'native',
  ) {
    super(code, message);
  }
}

export type Dialect = 'native' | 'seed002' | 'seed000';

export interface DecodeLimits {
  /** Longest channel name accepted. */
  maxChannelLength: number;
  /** Largest `limit` a history command may ask for. */
  maxHistoryLimit: number;
  /** Longest key of a keyed channel (`keyed.maxKeyLength`); default 256. */
  maxKeyLength?: number;
}

const DEFAULT_LIMITS: DecodeLimits = { maxChannelLength: 255, maxHistoryLimit: 1000 };

/** The decoded command and the dialect it came in. */
export interface Decoded {
  command: Command;
  dialect: Dialect;
}

/**
 * Decodes one text frame. Throws CommandError with a stable code for every malformed input; never throws anything
 * else (a frame is untrusted input).
 */
export function decodeCommand(text: string, limits: DecodeLimits = DEFAULT_LIMITS): Decoded {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new CommandError(ErrorCode.InvalidJson, 'frame is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CommandError(ErrorCode.InvalidJson, 'frame must be a JSON object');
  }
  const frame = value as Record<string, unknown>;
  if ('method' in frame) return { command: decodeNative(frame, limits), dialect: 'native' };
  if ('type' in frame) return { command: decodeSeed002(frame, limits), dialect: 'seed002' };
  if ('action' in frame) return { command: decodeSeed000(frame), dialect: 'seed000' };
  throw new CommandError(ErrorCode.BadRequest, 'frame needs a "method" field', readId(frame));
}

function readId(frame: Record<string, unknown>): CommandId {
  const id = frame.id;
  if (id === undefined || id === null) return null;
  if (typeof id === 'number' && Number.isSafeInteger(id)) return id;
  if (typeof id === 'string' && id.length <= 64) return id;
  throw new CommandError(ErrorCode.BadRequest, '"id" must be an integer or a string of at most 64 characters');
}

function objectField(obj: Record<string, unknown>, key: string, id: CommandId, dialect: Dialect): Record<string, unknown> {
  const v = obj[key];
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new CommandError(ErrorCode.BadRequest, `"${key}" must be an object`, id, dialect);
  }
  return v as Record<string, unknown>;
}

function channelField(
  params: Record<string, unknown>,
  key: string,
  id: CommandId,
  limits: DecodeLimits,
  dialect: Dialect = 'native',
): string {
  const v = params[key];
  if (v === undefined) throw new CommandError(ErrorCode.BadRequest, `"${key}" is required`, id, dialect);
  if (!isValidChannel(v, limits.maxChannelLength)) {
    throw new CommandError(
      ErrorCode.InvalidChannel,
      `"${key}" must be 1-${limits.maxChannelLength} characters of letters, digits and _-.:#@/=,`,
      id,
      dialect,
    );
  }
  return v;
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
  if (typeof v !== 'string' || v.length > max) {
    throw new CommandError(ErrorCode.BadRequest, `"${key}" must be a string of at most ${max} characters`, id);
  }
  return v;
}

/** JSON text of parsed data. Data nested a few thousand levels deep parses, but overflows JSON.stringify's stack. */
function jsonText(value: unknown, id: CommandId, dialect: Dialect): string {
  try {
    return JSON.stringify(value);
  } catch {
    throw new CommandError(ErrorCode.BadRequest, '"data" is nested too deeply', id, dialect);
  }
}

function optionalBoolean(params: Record<string, unknown>, key: string, id: CommandId): boolean | undefined {
  const v = params[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new CommandError(ErrorCode.BadRequest, `"${key}" must be a boolean`, id);
  return v;
}

function traceparentField(params: Record<string, unknown>, id: CommandId): string | undefined {
  const v = params.traceparent;
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !TRACEPARENT_PATTERN.test(v)) {
    throw new CommandError(ErrorCode.BadRequest, '"traceparent" must be a W3C trace context such as 00-<32 hex>-<16 hex>-01', id);
  }
  return v;
}

/** `key` and `op` of a keyed publish: `op` alone is refused, `delete` needs no `data`. */
function keyFields(params: Record<string, unknown>, id: CommandId, limits: DecodeLimits): { key?: string; op?: KeyOp } {
  const { key, op } = params;
  if (op !== undefined && op !== 'upsert' && op !== 'delete') throw new CommandError(ErrorCode.BadRequest, '"op" must be "upsert" or "delete"', id);
  if (key === undefined) {
    if (op !== undefined) throw new CommandError(ErrorCode.InvalidKey, '"op" needs a "key"', id);
    return {};
  }
  const max = limits.maxKeyLength ?? DEFAULT_MAX_KEY_LENGTH;
  if (!isValidKey(key, max)) throw new CommandError(ErrorCode.InvalidKey, `"key" must be 1-${max} ${KEY_RULE}`, id);
  return { key, op: op ?? 'upsert' };
}

function decodeNative(frame: Record<string, unknown>, limits: DecodeLimits): Command {
  const id = readId(frame);
  const method = frame.method;
  if (typeof method !== 'string') throw new CommandError(ErrorCode.BadRequest, '"method" must be a string', id);
  const params = objectField(frame, 'params', id, 'native');
  switch (method) {
    case 'subscribe': {
      const snapshot = optionalBoolean(params, 'snapshot', id);
      return {
        id,
        method,
        params: {
          channel: channelField(params, 'channel', id, limits),
          since: sinceField(params, id),
          token: optionalString(params, 'token', id, 8192),
          ...(snapshot === undefined ? {} : { snapshot }),
        },
      };
    }
    case 'unsubscribe':
      return { id, method, params: { channel: channelField(params, 'channel', id, limits) } };
    case 'publish': {
      const channel = channelField(params, 'channel', id, limits);
      const event = params.event === undefined ? 'message' : params.event;
      if (!isValidEvent(event)) {
        throw new CommandError(ErrorCode.InvalidEvent, `"event" must be ${EVENT_RULE}`, id);
      }
      const keyed = keyFields(params, id, limits);
      // A delete carries no value: its data is null whatever was sent.
      const isDelete = keyed.op === 'delete';
      if (!isDelete && !('data' in params)) throw new CommandError(ErrorCode.BadRequest, '"data" is required', id);
      return {
        id,
        method,
        params: {
          channel,
          event,
          data: isDelete ? 'null' : jsonText(params.data, id, 'native'),
          traceparent: traceparentField(params, id),
          tracestate: optionalString(params, 'tracestate', id, 512),
          ...keyed,
        },
      };
    }
    case 'presence':
      return { id, method, params: { channel: channelField(params, 'channel', id, limits) } };
    case 'history': {
      const channel = channelField(params, 'channel', id, limits);
      const limit = params.limit;
      if (limit !== undefined && (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 0 || limit > limits.maxHistoryLimit)) {
        throw new CommandError(ErrorCode.BadRequest, `"limit" must be an integer from 0 to ${limits.maxHistoryLimit}`, id);
      }
      const reverse = params.reverse;
      if (reverse !== undefined && typeof reverse !== 'boolean') {
        throw new CommandError(ErrorCode.BadRequest, '"reverse" must be a boolean', id);
      }
      const before = sinceField(params, id, 'before');
      return { id, method, params: { channel, since: sinceField(params, id), limit, reverse, ...(before ? { before } : {}) } };
    }
    case 'ping':
      return { id, method, params: {} };
    case 'send': {
      const user = params.user;
      if (typeof user !== 'string' || user.length === 0 || user.length > 255) {
        throw new CommandError(ErrorCode.BadRequest, '"user" must be a non-empty string of at most 255 characters', id);
      }
      const event = params.event === undefined ? 'message' : params.event;
      if (!isValidEvent(event)) throw new CommandError(ErrorCode.InvalidEvent, `"event" must be ${EVENT_RULE}`, id);
      if (!('data' in params)) throw new CommandError(ErrorCode.BadRequest, '"data" is required', id);
      return { id, method, params: { user, event, data: jsonText(params.data, id, 'native') } };
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

function decodeSeed002(frame: Record<string, unknown>, limits: DecodeLimits): Command {
  const d: Dialect = 'seed002';
  const type = frame.type;
  if (typeof type !== 'string') throw new CommandError(ErrorCode.BadRequest, '"type" must be a string', null, d);
  const payload = objectField(frame, 'payload', null, d);
  switch (type) {
    case 'join_room':
      return { id: null, method: 'subscribe', params: { channel: channelField(payload, 'room_id', null, limits, d) } };
    case 'leave_room':
      return { id: null, method: 'unsubscribe', params: { channel: channelField(payload, 'room_id', null, limits, d) } };
    case 'send_to_room':
      return { id: null, method: 'seed.send_to_room', params: { channel: channelField(payload, 'room_id', null, limits, d), payload } };
    case 'send_to_user': {
      const userId = payload.user_id;
      if (typeof userId !== 'string' || userId.length === 0 || userId.length > 255) {
        throw new CommandError(ErrorCode.BadRequest, '"payload.user_id" must be a non-empty string', null, d);
      }
      return { id: null, method: 'seed.send_to_user', params: { userId, payload } };
    }
    default:
      throw new CommandError(ErrorCode.UnknownMethod, `unknown type ${JSON.stringify(type.slice(0, 64))}`, null, d);
  }
}

function decodeSeed000(frame: Record<string, unknown>): Command {
  const d: Dialect = 'seed000';
  const action = frame.action;
  if (action === 'ping') return { id: null, method: 'seed.ping', params: {} };
  if (action === 'chat') {
    if (!('data' in frame)) throw new CommandError(ErrorCode.BadRequest, '"data" is required', null, d);
    return { id: null, method: 'seed.chat', params: { data: jsonText(frame.data, null, d) } };
  }
  if (typeof action !== 'string') throw new CommandError(ErrorCode.BadRequest, '"action" must be a string', null, d);
  throw new CommandError(ErrorCode.UnknownMethod, `unknown action ${JSON.stringify(action.slice(0, 64))}`, null, d);
}
