/** The rules a channel follows, from its namespace (or the default namespace). */
export interface ChannelRules {
  /** Namespace name; `''` for the default namespace. */
  readonly namespace: string;
  /** Who may subscribe (and read presence and history). */
  readonly subscribe: SubscribeRule;
  /** Whether clients may publish (the server API always may). */
  readonly publish: boolean;
  readonly presence: boolean;
  readonly joinLeave: boolean;
  readonly history: { readonly size: number; readonly ttlMs: number };
  /** Most subscribers of one channel on this node; 0: no limit. */
  readonly maxSubscribers: number;
  /** Set for keyed channels (namespace option `keyed`): every publication carries a key; its latest value is kept. */
  readonly keyed?: KeyedRules;
}

/** Bounds of a keyed channel's state (docs/keyed-channels.md). */
export interface KeyedRules {
  /** Most keys, live and tombstones (`keyed.maxKeys` or the namespace's `maxKeys`). */
  readonly maxKeys: number;
  /** How long a tombstone is kept, ms (`keyed.tombstoneTtl` or the namespace's `tombstoneTtl`). */
  readonly tombstoneTtlMs: number;
}

/** How a channel may be subscribed to: anyone, any authenticated user, or only with a token naming the channel. */
export type SubscribeRule = 'anonymous' | 'authenticated' | 'token';

/** One declared namespace, as the configuration's `namespaces[]` gives it (durations in ms). */
export interface NamespaceSettings {
  readonly name: string;
  readonly subscribe: SubscribeRule;
  readonly publish: boolean;
  readonly presence: boolean;
  readonly joinLeave: boolean;
  readonly historySize?: number | undefined;
  readonly historyTtl?: number | undefined;
  readonly maxSubscribers: number;
  readonly keyed?: boolean | undefined;
  readonly maxKeys?: number | undefined;
  readonly tombstoneTtl?: number | undefined;
}

/**
 * The part of the configuration the channel rules come from. Declared here rather than imported, so core imports
 * nothing of ours; the frozen `Config` fits it (the compiler checks that where the node builds `Namespaces`).
 */
export interface ChannelSettings {
  readonly channel: { readonly subscribe: SubscribeRule; readonly publish: boolean; readonly presence: boolean; readonly joinLeave: boolean };
  readonly history: { readonly size: number; readonly ttl: number };
  readonly keyed: { readonly maxKeys: number; readonly tombstoneTtl: number };
  readonly namespaces: readonly NamespaceSettings[];
}

/**
 * Resolves a channel name to its rules. `chat:room1` belongs to namespace `chat` when one is declared; channels
 * without a prefix use the default namespace (`channel.*` options). When namespaces are declared, an undeclared
 * prefix is refused (undefined), so a typo cannot silently create an unprotected channel. Without any declared
 * namespace, every channel is in the default namespace.
 */
export class Namespaces {
  private readonly byName = new Map<string, ChannelRules>();
  private readonly defaults: ChannelRules;

  constructor(config: ChannelSettings) {
    const h = { size: config.history.size, ttlMs: config.history.ttl };
    this.defaults = {
      namespace: '',
      subscribe: config.channel.subscribe,
      publish: config.channel.publish,
      presence: config.channel.presence,
      joinLeave: config.channel.joinLeave,
      history: h,
      maxSubscribers: 0,
    };
    for (const ns of config.namespaces) {
      this.byName.set(ns.name, {
        namespace: ns.name,
        subscribe: ns.subscribe,
        publish: ns.publish,
        presence: ns.presence,
        joinLeave: ns.joinLeave,
        history: { size: ns.historySize ?? h.size, ttlMs: ns.historyTtl ?? h.ttlMs },
        maxSubscribers: ns.maxSubscribers,
        ...(ns.keyed
          ? { keyed: { maxKeys: ns.maxKeys ?? config.keyed.maxKeys, tombstoneTtlMs: ns.tombstoneTtl ?? config.keyed.tombstoneTtl } }
          : {}),
      });
    }
  }

  /** The channel's rules, or undefined for an undeclared namespace. */
  rules(channel: string): ChannelRules | undefined {
    const i = channel.indexOf(':');
    if (i <= 0 || this.byName.size === 0) return this.defaults;
    return this.byName.get(channel.slice(0, i));
  }
}

/**
 * User-limited channels: `inbox#alice` (or `dm:chat#alice,bob`) may be used only by the users listed after the
 * last `#`. Returns undefined for channels without `#` (no user limit).
 */
export function channelUsers(channel: string): string[] | undefined {
  const i = channel.lastIndexOf('#');
  if (i < 0) return undefined;
  return channel.slice(i + 1).split(',');
}
