import type { PusherApp } from './pusher-signature.js';

/** One Pusher app served by this server (docs/compat.md, "Several apps"). */
export interface PusherAppConfig extends PusherApp {
  /**
   * The native namespace of the app's channels and signed-in users (`ns:{channel}`, `ns:{user}`); `""`: the app
   * whose channels are the native channels of the same name (at most one app).
   */
  readonly namespace: string;
  /** Whether `client-*` events are allowed (the app's `clientEvents`, else `pusher.clientEvents`). */
  readonly clientEvents: boolean;
}

/** The part of the configuration the apps come from (the frozen Config fits it). */
export interface PusherSettings {
  readonly pusher: PusherApp & {
    readonly clientEvents: boolean;
    readonly apps: readonly (PusherApp & { readonly namespace: string; readonly clientEvents?: boolean | undefined })[];
  };
}

/**
 * The apps the configuration names: `pusher.appId`/`key`/`secret` (the shorthand for one app without a namespace)
 * first, then `pusher.apps`. Empty when Pusher compatibility is off. The schema has checked that ids, keys and
 * namespaces are unique (src/config/schema.ts).
 */
export function pusherAppsOf(c: PusherSettings): readonly PusherAppConfig[] {
  const p = c.pusher;
  const apps: PusherAppConfig[] = [];
  if (p.appId !== '') apps.push({ appId: p.appId, key: p.key, secret: p.secret, namespace: '', clientEvents: p.clientEvents });
  for (const a of p.apps) apps.push({ appId: a.appId, key: a.key, secret: a.secret, namespace: a.namespace, clientEvents: a.clientEvents ?? p.clientEvents });
  return Object.freeze(apps.map((a) => Object.freeze(a)));
}
