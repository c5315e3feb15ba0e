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
  /** Publications go to the webhooks as `publication` events (`webhookPublications`). */
  readonly webhookPublications: boolean;
  /** Set for keyed channels (namespace option `keyed`): every publication carries a key; its latest value is kept. */
  readonly keyed?: KeyedRules;
  /** The backend proxies (docs/proxy.md) that decide for this namespace; an absent one is off. */
  readonly proxy: ProxyUrls;
}

/** URLs of a namespace's backend proxies: its own, else the global `proxy.<kind>.url`; absent when off. */
export interface ProxyUrls {
  readonly subscribe?: string;
  readonly publish?: string;
  readonly rpc?: string;
}

/** A namespace's choice (`""`: off) over the global default (`""`: off). */
function proxyUrls(own: NamespaceProxies | undefined, global: ChannelSettings['proxy']): ProxyUrls {
  const pick = (kind: 'subscribe' | 'publish' | 'rpc') => {
    const url = own?.[kind] ?? global[kind].url;
    return url === '' ? {} : { [kind]: url };
  };
  return Object.freeze({ ...pick('subscribe'), ...pick('publish'), ...pick('rpc') });
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
  readonly webhookPublications: boolean;
  readonly keyed?: boolean | undefined;
  readonly maxKeys?: number | undefined;
  readonly tombstoneTtl?: number | undefined;
  /** The namespace's own proxy URLs (`""`: off); absent: the global ones. */
  readonly proxy?: NamespaceProxies | undefined;
}

/** A namespace's choice of backend proxies (docs/proxy.md). */
export interface NamespaceProxies {
  readonly subscribe?: string | undefined;
  readonly publish?: string | undefined;
  readonly rpc?: string | undefined;
}

/**
 * The part of the configuration the channel rules come from. Declared here rather than imported, so core imports
 * nothing of ours; the frozen `Config` fits it (the compiler checks that where the node builds `Namespaces`).
 */
export interface ChannelSettings {
  readonly channel: { readonly subscribe: SubscribeRule; readonly publish: boolean; readonly presence: boolean; readonly joinLeave: boolean; readonly webhookPublications: boolean };
  readonly history: { readonly size: number; readonly ttl: number };
  readonly keyed: { readonly maxKeys: number; readonly tombstoneTtl: number };
  readonly namespaces: readonly NamespaceSettings[];
  /** The global proxy URLs (`proxy.<kind>.url`; `""`: off). */
  readonly proxy: { readonly subscribe: { readonly url: string }; readonly publish: { readonly url: string }; readonly rpc: { readonly url: string } };
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
      webhookPublications: config.channel.webhookPublications,
      proxy: proxyUrls(undefined, config.proxy),
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
        webhookPublications: ns.webhookPublications,
        proxy: proxyUrls(ns.proxy, config.proxy),
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
