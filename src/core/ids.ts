import { randomBytes } from 'node:crypto';

/**
 * Connection ids: a random per-process prefix plus a counter, so they are unique across nodes without a random
 * draw per connection. Example: `k3f9x2ab-1a`.
 */
const prefix = randomBytes(6).toString('base64url').replace(/[-_]/g, 'x').toLowerCase();
let counter = 0;

export function newConnectionId(): string {
  return prefix + '-' + (++counter).toString(36);
}

/** A random node id for stats and (later) the node registry. */
export function newNodeId(): string {
  return randomBytes(8).toString('hex');
}

/**
 * A new stream epoch: 8 lowercase hex characters (32 random bits), which matches EPOCH_PATTERN and is short enough
 * for SSE ids. Never equal to `previous`, so a stream that is reset always gets another epoch.
 */
export function newEpoch(previous?: string): string {
  let e: string;
  do e = randomBytes(4).toString('hex');
  while (e === previous);
  return e;
}
