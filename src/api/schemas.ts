import { z } from 'zod';
import {
  channelProblem,
  clientIdProblem,
  dataProblem,
  REQUIRED,
  ErrorCode,
  eventProblem,
  keyProblem,
  idempotencyKeyProblem,
  opProblem,
  tracestateProblem,
  traceparentProblem,
  type FieldProblem,
  type KeyOp,
} from '../protocol/index.js';

/** The bounds the API's field rules need (the WebSocket decoder's, from the same configuration). */
export interface ApiLimits {
  /** `channel.maxLength` */
  maxChannelLength: number;
  /** `keyed.maxKeyLength`; default 256. */
  maxKeyLength?: number;
}

/**
 * A field checked by the protocol's own rule (protocol/fields.ts), the one the WebSocket decoder applies: same
 * limits, same code (carried in the issue's `params.code`, read by `issueCode`), same message.
 */
function rule<T>(problem: (v: unknown) => FieldProblem | undefined, whenAbsent?: T) {
  // `.optional()` before the transform: zod then runs it for an absent key too (absent is the rule's call).
  return z
    .unknown()
    .optional()
    .transform((v, ctx): T => {
      const value = v === undefined && whenAbsent !== undefined ? whenAbsent : v;
      const p = problem(value);
      if (p) ctx.addIssue({ code: 'custom', message: p.message, params: { code: p.code } });
      return value as T;
    });
}

/** An optional field: absent is fine, present must pass the rule. */
function optional<T>(problem: (v: unknown) => FieldProblem | undefined) {
  return rule<T | undefined>((v) => (v === undefined ? undefined : problem(v)));
}

/**
 * Request bodies of the server API. Unknown fields are refused so typos surface. The publish body, the one on the
 * hot path, is checked directly first (`checkedFirst`); `options.direct: false` leaves it to zod alone (tests).
 */
export function apiSchemas(limits: ApiLimits | number, options: { direct?: boolean } = {}) {
  const { maxChannelLength, maxKeyLength } = typeof limits === 'number' ? { maxChannelLength: limits, maxKeyLength: undefined } : limits;
  const channel = rule<string>((v) => (v === undefined ? REQUIRED : channelProblem(v, maxChannelLength)));
  // Absent: `message`, as on the WebSocket.
  const event = rule<string>(eventProblem, 'message');
  const user = z.string().min(1).max(128);
  const data = rule<unknown>(dataProblem);
  const traceparent = optional<string>(traceparentProblem);
  // A connection (GET /api/connections `client`, or the SDK's `connected.client`) not to deliver to.
  const exclude = optional<string>(clientIdProblem);
  // A WebSocket close reason holds at most 123 bytes; `ws` throws on a longer one.
  const reason = z.string().max(100).refine((r) => Buffer.byteLength(r, 'utf8') <= 123, 'must be at most 123 bytes in UTF-8').optional();
  // Keyed channels: `key` and `op` (docs/keyed-channels.md); a delete needs no data.
  const publishFields = z.strictObject({
    channel,
    event,
    data: z.unknown().optional(),
    traceparent,
    tracestate: optional<string>(tracestateProblem),
    key: optional<string>((v) => keyProblem(v, maxKeyLength)),
    op: z.unknown().optional(),
    idempotency_key: optional<string>(idempotencyKeyProblem),
    exclude,
  });
  const publish = publishFields.transform((b, ctx) => {
    const problems: [string, FieldProblem | undefined][] = [['op', opProblem(b.op, b.key)]];
    if (b.op !== 'delete') problems.push(['data', dataProblem(b.data)]);
    for (const [field, p] of problems) {
      if (p) ctx.addIssue({ code: 'custom', path: [field], message: p.message, params: { code: p.code } });
    }
    return { ...b, op: b.op as KeyOp | undefined };
  });
  // The direct check accepts exactly the schema's fields (strictObject refuses any other).
  const publishFieldNames: ReadonlySet<string> = new Set(Object.keys(publishFields.shape));
  return {
    // `direct: false` (tests): zod alone, to compare the direct check with.
    publish: options.direct === false ? publish : checkedFirst(publish, (b) => publishBody(b, publishFieldNames, maxChannelLength, maxKeyLength)),
    broadcast: z.strictObject({ channels: z.array(channel).min(1).max(1000), event, data, exclude }),
    send: z.strictObject({ user, event, data, traceparent, tracestate: optional<string>(tracestateProblem) }),
    // `client`: only that connection of the user (its id from GET /api/connections), on whichever node holds it.
    disconnect: z.strictObject({ user, client: z.string().min(1).max(64).optional(), code: z.number().int().min(4000).max(4999).optional(), reason }),
  };
}

/** What `ServerApi.body` needs of a schema (zod's `safeParse`). */
export interface BodySchema<T> {
  safeParse(v: unknown): { success: true; data: T } | { success: false; error: z.ZodError };
}

/**
 * `schema`, with `accept` tried first: a body `accept` returns is the answer without zod's per-field work (on the
 * API publish path zod cost ~7 µs of ~120 µs CPU per request, bench/publish-path.js); anything else, refused bodies
 * included, goes through zod, so every error code and message stays zod's. `accept` applies the same protocol rules
 * and returns what zod would.
 */
function checkedFirst<T>(schema: BodySchema<T>, accept: (b: Record<string, unknown>) => T | undefined): BodySchema<T> {
  return {
    safeParse(v) {
      const data = typeof v === 'object' && v !== null && !Array.isArray(v) ? accept(v as Record<string, unknown>) : undefined;
      return data !== undefined ? { success: true, data } : schema.safeParse(v);
    },
  };
}

/** A publish body every rule of the zod schema above accepts, as that schema returns it; undefined for any other. */
function publishBody(b: Record<string, unknown>, fields: ReadonlySet<string>, maxChannelLength: number, maxKeyLength: number | undefined) {
  for (const field of Object.keys(b)) if (!fields.has(field)) return undefined;
  const { channel, data, traceparent, tracestate, key, op, idempotency_key, exclude } = b;
  const event = b.event === undefined ? 'message' : b.event;
  if (channel === undefined || channelProblem(channel, maxChannelLength) || eventProblem(event)) return undefined;
  if (traceparent !== undefined && traceparentProblem(traceparent)) return undefined;
  if (tracestate !== undefined && tracestateProblem(tracestate)) return undefined;
  if (key !== undefined && keyProblem(key, maxKeyLength)) return undefined;
  if (idempotency_key !== undefined && idempotencyKeyProblem(idempotency_key)) return undefined;
  if (exclude !== undefined && clientIdProblem(exclude)) return undefined;
  if (opProblem(op, key) || (op !== 'delete' && dataProblem(data))) return undefined;
  return {
    channel: channel as string,
    event: event as string,
    data,
    traceparent: traceparent as string | undefined,
    tracestate: tracestate as string | undefined,
    key: key as string | undefined,
    op: op as KeyOp | undefined,
    idempotency_key: idempotency_key as string | undefined,
    exclude: exclude as string | undefined,
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

/** The code of a refused body: the protocol rule's code for a field it refused, else `bad_request`. */
export function issueCode(err: z.ZodError): ErrorCode {
  const issue = err.issues[0];
  if (issue?.code === 'custom') {
    const code = (issue.params as { code?: unknown } | undefined)?.code;
    if (typeof code === 'string' && (Object.values(ErrorCode) as string[]).includes(code)) return code as ErrorCode;
  }
  return ErrorCode.BadRequest;
}
