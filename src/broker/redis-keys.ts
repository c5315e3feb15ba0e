/**
 * Every Redis key and pub/sub channel name of the Redis broker, in one place, so each goes through the same hash tag.
 *
 * Redis Cluster puts a key in the slot of its hash tag (the text between the first `{` and the next `}`). All keys and
 * pub/sub channels of one channel share the tag `{ch:<channel>}`: one slot, so a Lua script can touch all of them
 * atomically (a script may only touch keys of one slot) and the channel's sharded pub/sub lives on the shard that
 * runs its publish script. A channel name containing `}` only shortens the tag; every key of that channel still
 * starts with the same text, so they still share a slot. Keys that are not per channel (node registry, control
 * messages) use their own fixed tags. On a single Redis the tags are ordinary characters.
 *
 * New per-channel keys: add a method built on `base(channel)`, like `hist`.
 */
export class RedisKeys {
  /** Pub/sub channel of control messages between nodes (send-to-user, disconnect-user). Tag `{control}`. */
  readonly control: string;
  /** Set of node ids that reported. Tag `{nodes}`, shared with each node's report key so MGET stays in one slot. */
  readonly nodes: string;
  constructor(private readonly prefix: string) {
    this.control = `${prefix}:{control}`;
    this.nodes = `${prefix}:{nodes}`;
  }
  /** One node's latest report (JSON), expiring when the node stops reporting. */
  node(id: string): string {
    return `${this.nodes}:${id}`;
  }
  private base(channel: string): string {
    return `${this.prefix}:{ch:${channel}}`;
  }
  /** Hash: epoch, offset (last assigned), ttl (history age bound of the last publish, ms). */
  meta(channel: string): string {
    return `${this.base(channel)}:meta`;
  }
  /** List: encoded publications, oldest first. */
  hist(channel: string): string {
    return `${this.base(channel)}:hist`;
  }
  /** Hash: client id -> presence entry. */
  presence(channel: string): string {
    return `${this.base(channel)}:presence`;
  }
  /** Pub/sub channel of the channel's publications. */
  pub(channel: string): string {
    return `${this.base(channel)}:pub`;
  }
  /** Keyed channels: hash key -> the key's latest encoded publication (keyed-redis-scripts.ts). */
  keyedState(channel: string): string {
    return `${this.base(channel)}:kstate`;
  }
  /** Keyed channels: zset of keys scored by the offset of their latest publication. */
  keyedOrder(channel: string): string {
    return `${this.base(channel)}:korder`;
  }
  /** Keyed channels: zset of deleted keys (tombstones) scored by offset. */
  keyedTombs(channel: string): string {
    return `${this.base(channel)}:ktombs`;
  }
  /** String `epoch offset time` of the publication an idempotency key got, expiring after the window (PX). */
  idempotency(channel: string, key: string): string {
    return `${this.base(channel)}:idem:${key}`;
  }
  /** Pub/sub channel of the channel's join/leave events. */
  members(channel: string): string {
    return `${this.base(channel)}:members`;
  }
}
