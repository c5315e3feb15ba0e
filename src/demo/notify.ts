/**
 * `POST /demo/notify`: the demo page's "send a notification" form. Seed 002 sends notifications from the backend
 * (`POST /api/send`, which needs the API key or a loopback caller), but a browser on another machine has neither, so
 * the demo gets this narrow endpoint: it sends one `notification` event (seed 002: title, body, link, priority) to one
 * user through the node's send-to-user, and nothing else.
 *
 * Why it is not a hole: it exists only while `demo.producer` is on (off by default, documented as demo-only); it
 * answers same-origin JSON requests only (a cross-site form cannot post JSON without a CORS preflight, which gets
 * no answer); bodies are 4 KiB at most; and the whole node accepts 5 a second (burst 20). It still lets any visitor
 * notify any user: that is the demo, and why the producer is never for production.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { TokenBucket } from '../core/token-bucket.js';
import { sendError, sendJson } from '../http/responses.js';

/** Largest accepted body (bytes): a notification is a few short strings. */
const MAX_BODY_BYTES = 4096;
/** Notifications per second over the whole node, and the burst above it. */
const RATE_PER_S = 5;
const BURST = 20;

const notificationSchema = z.strictObject({
  user: z.string().min(1).max(128),
  title: z.string().min(1).max(100),
  body: z.string().max(500).default(''),
  priority: z.enum(['low', 'normal', 'high']).default('normal'),
  link: z.string().max(300).regex(/^https?:\/\//, 'an http(s) URL').optional(),
  /** Shown as the sender; not verified (in development mode anyone can be anyone anyway). */
  from: z.string().max(64).optional(),
});
export type DemoNotification = z.output<typeof notificationSchema>;

export class DemoNotifier {
  private readonly bucket = new TokenBucket(RATE_PER_S, BURST);

  constructor(private readonly sendToUser: (user: string, event: string, data: string) => Promise<void>) {}

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') return sendError(res, 405, 'method_not_allowed', 'use POST', { allow: 'POST' });
    if (!sameOrigin(req)) return sendError(res, 403, 'forbidden_origin', 'POST /demo/notify answers the demo page of this server only (same Origin)');
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) return sendError(res, 415, 'bad_request', 'send the body as application/json');
    if (!this.bucket.take()) return sendError(res, 429, 'too_many_requests', `demo notifications are limited to ${RATE_PER_S} a second`);
    let body: unknown;
    try {
      body = JSON.parse(await readBody(req));
    } catch (err) {
      if (err instanceof BodyTooLarge) return sendError(res, 413, 'message_too_large', `the body exceeds ${MAX_BODY_BYTES} bytes`);
      return sendError(res, 400, 'bad_request', 'the body is not JSON');
    }
    const parsed = notificationSchema.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      return sendError(res, 400, 'bad_request', `${issue.path.join('.') || 'body'}: ${issue.message}`);
    }
    const { user, ...notification } = parsed.data;
    try {
      await this.sendToUser(user, 'notification', JSON.stringify(notification));
      sendJson(res, 200, {});
    } catch {
      sendError(res, 503, 'unavailable', 'the broker is unavailable; try again');
    }
  }
}

/** Browsers always send Origin on a POST; it must name this server (the Host the request came to). */
function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (!origin || !req.headers.host) return false;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new BodyTooLarge());
        req.resume();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
