import { z } from 'zod';
import { CHANNEL_PATTERN, ErrorCode, EVENT_RULE, isValidEvent, TRACEPARENT_PATTERN } from '../protocol/index.js';

/** Request bodies of the server API. Unknown fields are refused so typos surface. */
export function apiSchemas(maxChannelLength: number) {
  const channel = z.string().min(1).max(maxChannelLength).regex(CHANNEL_PATTERN, 'letters, digits and _-.:#@/=, only');
  const event = z.string().refine(isValidEvent, `must be ${EVENT_RULE}`).default('message');
  const user = z.string().min(1).max(128);
  const data = z.unknown().refine((v) => v !== undefined, { message: 'is required (any JSON value)' });
  const traceparent = z.string().regex(TRACEPARENT_PATTERN, 'must be a W3C trace context such as 00-<32 hex>-<16 hex>-01').optional();
  // A WebSocket close reason holds at most 123 bytes; `ws` throws on a longer one.
  const reason = z.string().max(100).refine((r) => Buffer.byteLength(r, 'utf8') <= 123, 'must be at most 123 bytes in UTF-8').optional();
  return {
    // Keyed channels: `key` and `op` (docs/keyed-channels.md); a delete needs no data.
    publish: z
      .strictObject({ channel, event, data: z.unknown().optional(), traceparent, tracestate: z.string().max(512).optional(), key: z.string().optional(), op: z.enum(['upsert', 'delete']).optional() })
      .superRefine((b, ctx) => {
        if (b.data === undefined && b.op !== 'delete') ctx.addIssue({ code: 'custom', path: ['data'], message: 'is required (any JSON value)' });
      }),
    broadcast: z.strictObject({ channels: z.array(channel).min(1).max(1000), event, data }),
    send: z.strictObject({ user, event, data }),
    disconnect: z.strictObject({ user, code: z.number().int().min(4000).max(4999).optional(), reason }),
  };
}

/** `field: message; field: message` from a zod error. */
export function describeIssues(err: z.ZodError): string {
  return err.issues
    .slice(0, 5)
    .map((i) => {
      const path = i.path.join('.') || 'body';
      if (i.code === 'unrecognized_keys') return `unknown field(s) ${i.keys.map((k) => JSON.stringify(k)).join(', ')}`;
      return `${path}: ${i.message}`;
    })
    .join('; ');
}

/** The code of a refused body: a present but malformed channel or event name gets its own code, as on the WebSocket. */
export function issueCode(err: z.ZodError, body: Record<string, unknown>): ErrorCode {
  const [field, index] = err.issues[0]?.path ?? [];
  if (field === 'event' && body.event !== undefined) return ErrorCode.InvalidEvent;
  if (field === 'key' || (field === 'op' && body.key === undefined)) return ErrorCode.InvalidKey;
  if (field === 'channel' && body.channel !== undefined) return ErrorCode.InvalidChannel;
  if (field === 'channels' && typeof index === 'number') return ErrorCode.InvalidChannel;
  return ErrorCode.BadRequest;
}
