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
