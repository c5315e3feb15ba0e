/**
 * The memory broker's byte accounting of one kept publication, shared by the history streams (memory-stream.ts)
 * and the keyed state (keyed-memory.ts), which count against one node-wide budget (retention.ts).
 */
import type { PublicationMeta } from './broker.js';

/**
 * Fixed cost of one kept publication beyond its strings, in bytes: the object and its fields, the history slot and
 * the budget queue entry (measured roughly on Node 20, 64-bit).
 */
const PUBLICATION_OVERHEAD_BYTES = 160;

/**
 * What a kept publication costs in memory, roughly, in bytes: its strings (counted in UTF-16 code units, which is
 * the byte size of the one-byte strings JSON text from the wire usually is) plus a fixed overhead. O(1): the budget
 * is checked on every publish.
 */
export function publicationBytes(p: { readonly channel: string; readonly event: string; readonly data: string; readonly key?: string; readonly meta?: PublicationMeta }): number {
  let n = PUBLICATION_OVERHEAD_BYTES + p.data.length + p.event.length + p.channel.length;
  if (p.key !== undefined) n += p.key.length;
  const m = p.meta;
  if (m !== undefined) n += 32 + (m.traceparent?.length ?? 0) + (m.tracestate?.length ?? 0) + (m.exclude?.length ?? 0);
  return n;
}
