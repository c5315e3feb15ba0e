/**
 * Keyed channels (docs/keyed-channels.md) at the session level: what a keyed publish must carry, and how a subscriber
 * catches up — a history replay when its position is still in history, else a snapshot of the latest value per key
 * (every key changed after its position: a delta; or everything after a reset), read in pages and paced by the
 * client's reading, then the same gap-free switch to live as a resume.
 */
import type { KeyedOptions, StatePage } from '../broker/broker.js';
import { servesDelta } from '../broker/pages.js';
import type { Config } from '../config/index.js';
import type { ChannelRules } from '../core/namespaces.js';
import { ErrorCode, isValidKey, KEY_RULE, ReplyError, type KeyOp, type StreamPosition } from '../protocol/index.js';
import type { KeyedWrite, NodeServices } from './services.js';

export type { KeyedWrite } from './services.js';

/** The broker fields of a publish: key, op and bounds for a keyed channel, nothing for another. Throws `invalid_key`. */
export function checkKeyedPublish(
  config: Config,
  rules: ChannelRules,
  channel: string,
  write: KeyedWrite | undefined,
): { key?: string; op?: KeyOp; keyed?: KeyedOptions } {
  if (!rules.keyed) {
    if (write) throw new ReplyError(ErrorCode.InvalidKey, `channel "${channel}" is not keyed: publish without "key" (keyed channels are declared by a namespace with "keyed": true)`);
    return {};
  }
  if (!write) throw new ReplyError(ErrorCode.InvalidKey, `channel "${channel}" is keyed: every publication needs a "key" (and "op": "upsert" or "delete")`);
  const max = config.keyed.maxKeyLength;
  if (!isValidKey(write.key, max)) throw new ReplyError(ErrorCode.InvalidKey, `"key" must be 1-${max} ${KEY_RULE} (keyed.maxKeyLength)`);
  return { key: write.key, op: write.op, keyed: rules.keyed };
}

/** A snapshot to stream after the subscribe reply: the first page (already read) and where it started. */
export interface KeyedCatchUp {
  readonly kind: 'delta' | 'full';
  readonly first: StatePage;
  /** Entries after this offset were asked for (0 for a full snapshot). */
  readonly after: number;
  /** The subscription's setup-buffer restarts counted just before the first page was read. */
  readonly restartsBefore: number;
}

/**
 * Reads the first snapshot page for a subscriber that history cannot serve: a delta after `since` when every delete
 * after it is still remembered (and the epoch is the same), else everything after a reset. `restarts` reads the
 * subscription's buffer-restart count (taken before the read).
 */
export async function firstSnapshotPage(
  node: NodeServices,
  channel: string,
  since: StreamPosition | undefined,
  restarts: () => number,
): Promise<KeyedCatchUp> {
  const limit = node.config.keyed.pageSize;
  if (since) {
    const restartsBefore = restarts();
    const first = await node.keyedState(channel, { after: since.offset, limit });
    if (servesDelta(since, first)) {
      return { kind: 'delta', first, after: since.offset, restartsBefore };
    }
  }
  const restartsBefore = restarts();
  return { kind: 'full', first: await node.keyedState(channel, { after: 0, limit }), after: 0, restartsBefore };
}
