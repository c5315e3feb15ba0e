/** Turns server pushes (parsed JSON objects) into the SDK's public data types. */
import type { DirectMessage, MemberEvent, Publication } from './types.js';

type Push = Record<string, any>;

export function toPublication(p: Push): Publication {
  const out: { -readonly [K in keyof Publication]: Publication[K] } = {
    channel: p.channel,
    event: p.type,
    data: p.payload,
    epoch: p.epoch,
    offset: p.offset,
    timestamp: p.timestamp,
  };
  if (typeof p.traceparent === 'string') out.traceparent = p.traceparent;
  if (typeof p.tracestate === 'string') out.tracestate = p.tracestate;
  if (typeof p.key === 'string') {
    out.key = p.key;
    out.op = p.op === 'delete' ? 'delete' : 'upsert';
  }
  return out;
}

export function toDirectMessage(p: Push): DirectMessage {
  const out: { -readonly [K in keyof DirectMessage]: DirectMessage[K] } = { event: p.type, data: p.payload, timestamp: p.timestamp };
  if (typeof p.traceparent === 'string') out.traceparent = p.traceparent;
  if (typeof p.tracestate === 'string') out.tracestate = p.tracestate;
  if (typeof p.from === 'string') out.from = p.from;
  return out;
}

export function toMemberEvent(p: Push): MemberEvent {
  const m = (p.payload ?? {}) as Push;
  return m.info === undefined ? { channel: p.channel, user: m.user, client: m.client } : { channel: p.channel, user: m.user, client: m.client, info: m.info };
}

/** A publication push: numeric offset and string epoch (anything else cannot be tracked and is ignored). */
export function isPublicationPush(p: Push): boolean {
  return typeof p.channel === 'string' && typeof p.epoch === 'string' && typeof p.offset === 'number';
}
